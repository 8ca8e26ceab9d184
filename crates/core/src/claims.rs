//! Claim mappings (R-CFG-07, R-CFG-08) and pure extraction of a user's identity from a
//! verified token's claims (R-JWT-06, R-JWT-07). Claim names are top-level keys only and
//! are never split on dots or slashes: `https://alter.dev/groups` is one key.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::ids::{ExternalGroupId, ExternalUserId};
use crate::model::ClaimMappings;

impl ClaimMappings {
    /// Longest claim name accepted, in characters.
    pub const MAX_CLAIM_NAME_LEN: usize = 256;

    /// Checks every claim name (non-empty, at most 256 characters, no whitespace or
    /// control characters; dots and slashes are fine) and that the stable-IDs flag has a
    /// group claim to describe.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_claim_name("claim_mappings.user_id_claim", &self.user_id_claim)?;
        let optional = [
            ("claim_mappings.group_claim", &self.group_claim),
            ("claim_mappings.role_claim", &self.role_claim),
            ("claim_mappings.email_claim", &self.email_claim),
            (
                "claim_mappings.display_name_claim",
                &self.display_name_claim,
            ),
        ];
        for (field, name) in optional {
            if let Some(name) = name {
                check_claim_name(field, name)?;
            }
        }
        if self.group_claim_stable_ids && self.group_claim.is_none() {
            return Err(FieldError::new(
                "claim_mappings.group_claim_stable_ids",
                "is set but no group claim is mapped: map the group claim that carries the stable group IDs, or clear the flag",
            ));
        }
        Ok(())
    }
}

fn check_claim_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.is_empty() {
        return Err(FieldError::new(
            field,
            "is empty: give the claim's name as it appears in the token, or leave it unset",
        ));
    }
    let len = name.chars().count();
    if len > ClaimMappings::MAX_CLAIM_NAME_LEN {
        return Err(FieldError::new(
            field,
            format!(
                "is {len} characters long: a claim name may be at most {}",
                ClaimMappings::MAX_CLAIM_NAME_LEN
            ),
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            format!(
                "{name:?} contains whitespace or control characters: a claim name is a single top-level token key"
            ),
        ));
    }
    Ok(())
}

/// The lock rule of R-CFG-08: once any user of the IDP has authenticated, the mappings
/// keyed existing users and groups, so any change is refused; otherwise the new mappings
/// must be valid. Saving identical mappings is always allowed.
pub fn check_claim_mappings_change(
    locked: bool,
    old: &ClaimMappings,
    new: &ClaimMappings,
) -> Result<(), FieldError> {
    if locked && old != new {
        let field = first_difference(old, new);
        return Err(FieldError::new(
            format!("claim_mappings.{field}"),
            "cannot change: claim mappings lock after the first successful sign-in of any user of this identity provider, because existing users and groups were keyed by them; to use different mappings, create a new app and connect the identity provider to it",
        ));
    }
    new.validate()
}

fn first_difference(old: &ClaimMappings, new: &ClaimMappings) -> &'static str {
    if old.user_id_claim != new.user_id_claim {
        "user_id_claim"
    } else if old.group_claim != new.group_claim {
        "group_claim"
    } else if old.group_claim_stable_ids != new.group_claim_stable_ids {
        "group_claim_stable_ids"
    } else if old.role_claim != new.role_claim {
        "role_claim"
    } else if old.email_claim != new.email_claim {
        "email_claim"
    } else {
        "display_name_claim"
    }
}

/// What a verified token says about its user, read through the claim mappings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractedIdentity {
    pub external_id: ExternalUserId,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Groups in claim order, duplicates and empty strings dropped.
    pub groups: Vec<ExternalGroupId>,
    /// Roles in claim order, duplicates and empty strings dropped.
    pub roles: Vec<String>,
    /// When the claims were issued (`iat`), if the token says: the group claim describes
    /// the memberships of that moment, not of a later one (R-REV-04).
    pub issued_at: Option<DateTime<Utc>>,
}

/// Bounds on what one token's claims may ask of the directory: a signed token is still
/// input, and every group it lists becomes a group and a membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Most entries the group claim may list (before duplicates are dropped).
    pub max_group_entries: usize,
}

impl ClaimLimits {
    /// Default of [`ClaimLimits::max_group_entries`].
    pub const DEFAULT_MAX_GROUP_ENTRIES: usize = 1_000;
}

impl Default for ClaimLimits {
    fn default() -> Self {
        Self {
            max_group_entries: Self::DEFAULT_MAX_GROUP_ENTRIES,
        }
    }
}

/// Why a token's claims cannot be read; each variant names the claim.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "token has no {claim:?} claim, which is mapped as the user ID: check the user-ID claim mapping"
    )]
    MissingUserId { claim: String },
    #[error("claim {claim:?} must be {expected}, found {found}")]
    WrongType {
        claim: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("claim {claim:?} {reason}")]
    InvalidValue { claim: String, reason: String },
    #[error(
        "claim {claim:?} lists {count} entries; at most {limit} are accepted: have the identity provider put fewer groups in the token (filter them in its claim rule), or raise the verifier's max_group_claim_entries"
    )]
    TooManyEntries {
        claim: String,
        count: usize,
        limit: usize,
    },
}

impl ClaimError {
    /// The claim the error is about.
    pub fn claim(&self) -> &str {
        match self {
            ClaimError::MissingUserId { claim }
            | ClaimError::WrongType { claim, .. }
            | ClaimError::InvalidValue { claim, .. }
            | ClaimError::TooManyEntries { claim, .. } => claim,
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the user's identity from verified claims (R-JWT-06, R-JWT-07). The user-ID claim
/// is required and must be a string (an integer is taken as its decimal string); email and
/// display name are optional strings; groups and roles are a string or an array of strings.
/// An absent or `null` optional claim is simply absent; a claim of the wrong type is an error.
/// The group claim may list at most `limits.max_group_entries` entries.
pub fn extract_identity(
    mappings: &ClaimMappings,
    claims: &Map<String, Value>,
    limits: &ClaimLimits,
) -> Result<ExtractedIdentity, ClaimError> {
    let claim = mappings.user_id_claim.as_str();
    let raw_id = match claims.get(claim) {
        None | Some(Value::Null) => {
            return Err(ClaimError::MissingUserId {
                claim: claim.to_owned(),
            });
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        Some(other) => {
            return Err(ClaimError::WrongType {
                claim: claim.to_owned(),
                expected: "a string (the user's ID at the provider)",
                found: type_name(other),
            });
        }
    };
    let external_id =
        ExternalUserId::parse(claim, &raw_id).map_err(|e| ClaimError::InvalidValue {
            claim: claim.to_owned(),
            reason: e.message,
        })?;
    let groups = string_list(
        mappings.group_claim.as_deref(),
        claims,
        Some(limits.max_group_entries),
    )?
    .into_iter()
    .map(|(name, value)| {
        ExternalGroupId::parse(name, &value).map_err(|e| ClaimError::InvalidValue {
            claim: name.to_owned(),
            reason: e.message,
        })
    })
    .collect::<Result<Vec<_>, _>>()?;
    let roles = string_list(mappings.role_claim.as_deref(), claims, None)?
        .into_iter()
        .map(|(_, value)| value)
        .collect();
    Ok(ExtractedIdentity {
        external_id,
        email: optional_string(mappings.email_claim.as_deref(), claims)?,
        display_name: optional_string(mappings.display_name_claim.as_deref(), claims)?,
        groups,
        roles,
        issued_at: claims
            .get("iat")
            .and_then(Value::as_i64)
            .and_then(|secs| DateTime::from_timestamp(secs, 0)),
    })
}

fn optional_string(
    claim: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<Option<String>, ClaimError> {
    let Some(claim) = claim else { return Ok(None) };
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ClaimError::WrongType {
            claim: claim.to_owned(),
            expected: "a string",
            found: type_name(other),
        }),
    }
}

/// A string-or-array-of-strings claim as `(claim name, value)` pairs, order kept,
/// duplicates and empty strings dropped (a Clerk template yields `""` with no active org).
/// An array longer than `max_entries` is refused before any entry is read.
fn string_list<'a>(
    claim: Option<&'a str>,
    claims: &Map<String, Value>,
    max_entries: Option<usize>,
) -> Result<Vec<(&'a str, String)>, ClaimError> {
    let Some(claim) = claim else {
        return Ok(Vec::new());
    };
    let values: Vec<&String> = match claims.get(claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) if max_entries.is_some_and(|limit| items.len() > limit) => {
            return Err(ClaimError::TooManyEntries {
                claim: claim.to_owned(),
                count: items.len(),
                limit: max_entries.unwrap_or_default(),
            });
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                other => Err(ClaimError::WrongType {
                    claim: claim.to_owned(),
                    expected: "a string or an array of strings",
                    found: match other {
                        Value::Null => "an array holding null",
                        Value::Bool(_) => "an array holding a boolean",
                        Value::Number(_) => "an array holding a number",
                        Value::Array(_) => "an array holding an array",
                        _ => "an array holding an object",
                    },
                }),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ClaimError::WrongType {
                claim: claim.to_owned(),
                expected: "a string or an array of strings",
                found: type_name(other),
            });
        }
    };
    let mut seen: HashSet<&str> = HashSet::with_capacity(values.len());
    let mut out: Vec<(&str, String)> = Vec::with_capacity(values.len());
    for value in values {
        if !value.is_empty() && seen.insert(value.as_str()) {
            out.push((claim, value.clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    /// A change to apply to a copy of `mappings()` in a table row.
    type Mutation = fn(&mut ClaimMappings);

    fn limits() -> ClaimLimits {
        ClaimLimits::default()
    }

    fn mappings() -> ClaimMappings {
        ClaimMappings {
            user_id_claim: "sub".to_owned(),
            group_claim: Some("https://alter.dev/groups".to_owned()),
            role_claim: Some("roles".to_owned()),
            email_claim: Some("email".to_owned()),
            display_name_claim: Some("name".to_owned()),
            group_claim_stable_ids: false,
        }
    }

    // --- R-CFG-07 mapping validation -------------------------------------------------------

    #[test]
    fn r_cfg_07_default_user_id_claim_is_sub() {
        let m = ClaimMappings::default();
        assert_eq!(m.user_id_claim, "sub");
        assert_eq!(
            (
                m.group_claim,
                m.role_claim,
                m.email_claim,
                m.display_name_claim
            ),
            (None, None, None, None)
        );
        assert!(!m.group_claim_stable_ids);
    }

    #[test]
    fn r_cfg_07_claim_names_may_contain_dots_and_slashes() {
        let m = ClaimMappings {
            group_claim: Some("https://alter.dev/groups".to_owned()),
            role_claim: Some("cognito:groups".to_owned()),
            email_claim: Some("a.b.c".to_owned()),
            ..ClaimMappings::default()
        };
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(mappings().validate(), Ok(()));
    }

    #[test]
    fn r_cfg_07_invalid_claim_names_are_rejected_naming_the_field() {
        let cases: [(Mutation, &str, &str); 7] = [
            (
                |m| m.user_id_claim = String::new(),
                "claim_mappings.user_id_claim",
                "empty",
            ),
            (
                |m| m.group_claim = Some(String::new()),
                "claim_mappings.group_claim",
                "empty",
            ),
            (
                |m| m.role_claim = Some("my roles".to_owned()),
                "claim_mappings.role_claim",
                "whitespace",
            ),
            (
                |m| m.email_claim = Some("email\u{0}".to_owned()),
                "claim_mappings.email_claim",
                "control",
            ),
            (
                |m| m.display_name_claim = Some("x".repeat(257)),
                "claim_mappings.display_name_claim",
                "at most 256",
            ),
            (
                |m| m.user_id_claim = "sub\t".to_owned(),
                "claim_mappings.user_id_claim",
                "whitespace",
            ),
            (
                |m| {
                    m.group_claim = None;
                    m.group_claim_stable_ids = true;
                },
                "claim_mappings.group_claim_stable_ids",
                "no group claim",
            ),
        ];
        for (mutate, field, why) in cases {
            let mut m = mappings();
            mutate(&mut m);
            let err = m.validate().unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.message.contains(why), "{err}");
        }
        let mut at_limit = mappings();
        at_limit.display_name_claim = Some("é".repeat(256));
        assert_eq!(at_limit.validate(), Ok(()));
    }

    // --- R-CFG-08 lock ---------------------------------------------------------------------

    #[test]
    fn r_cfg_08_unlocked_mappings_may_change() {
        let old = mappings();
        let new = ClaimMappings {
            group_claim: Some("groups".to_owned()),
            ..mappings()
        };
        assert_eq!(check_claim_mappings_change(false, &old, &new), Ok(()));
    }

    #[test]
    fn r_cfg_08_unlocked_change_must_still_be_valid() {
        let new = ClaimMappings {
            user_id_claim: " ".to_owned(),
            ..mappings()
        };
        assert_eq!(
            check_claim_mappings_change(false, &mappings(), &new)
                .unwrap_err()
                .field,
            "claim_mappings.user_id_claim"
        );
    }

    #[test]
    fn r_cfg_08_locked_mappings_reject_every_change_saying_why() {
        let changes: [(Mutation, &str); 6] = [
            (
                |m| m.user_id_claim = "uid".to_owned(),
                "claim_mappings.user_id_claim",
            ),
            (|m| m.group_claim = None, "claim_mappings.group_claim"),
            (
                |m| m.group_claim_stable_ids = true,
                "claim_mappings.group_claim_stable_ids",
            ),
            (
                |m| m.role_claim = Some("r".to_owned()),
                "claim_mappings.role_claim",
            ),
            (|m| m.email_claim = None, "claim_mappings.email_claim"),
            (
                |m| m.display_name_claim = Some("nick".to_owned()),
                "claim_mappings.display_name_claim",
            ),
        ];
        for (mutate, field) in changes {
            let mut new = mappings();
            mutate(&mut new);
            let err = check_claim_mappings_change(true, &mappings(), &new).unwrap_err();
            assert_eq!(err.field, field);
            assert!(
                err.message
                    .contains("lock after the first successful sign-in"),
                "{err}"
            );
        }
    }

    #[test]
    fn r_cfg_08_locked_mappings_accept_an_identical_save() {
        assert_eq!(
            check_claim_mappings_change(true, &mappings(), &mappings()),
            Ok(())
        );
    }

    // --- R-JWT-06 / R-JWT-07 extraction -------------------------------------------------------

    #[test]
    fn r_jwt_06_extracts_full_identity() {
        let c = claims(json!({
            "sub": "auth0|65a1f0c2d4e5f60718293a4b",
            "email": "dana@example.com",
            "name": "Dana Q",
            "https://alter.dev/groups": ["finance", "ops", "finance", ""],
            "roles": "admin",
        }));
        let id = extract_identity(&mappings(), &c, &limits()).unwrap();
        assert_eq!(id.external_id.as_str(), "auth0|65a1f0c2d4e5f60718293a4b");
        assert_eq!(id.email.as_deref(), Some("dana@example.com"));
        assert_eq!(id.display_name.as_deref(), Some("Dana Q"));
        assert_eq!(
            id.groups
                .iter()
                .map(ExternalGroupId::as_str)
                .collect::<Vec<_>>(),
            ["finance", "ops"]
        );
        assert_eq!(id.roles, ["admin"]);
    }

    #[test]
    fn r_jwt_06_user_id_claim_is_required() {
        for c in [json!({}), json!({"sub": null}), json!({"uid": "00u1"})] {
            let err = extract_identity(&mappings(), &claims(c), &limits()).unwrap_err();
            assert_eq!(
                err,
                ClaimError::MissingUserId {
                    claim: "sub".to_owned()
                }
            );
            assert!(err.to_string().contains("user-ID claim mapping"), "{err}");
        }
    }

    #[test]
    fn r_jwt_06_user_id_claim_must_be_a_string_or_integer() {
        let id = extract_identity(
            &mappings(),
            &claims(json!({"sub": 1234567890123_u64})),
            &limits(),
        )
        .unwrap();
        assert_eq!(id.external_id.as_str(), "1234567890123");
        for bad in [json!(1.5), json!(true), json!(["a"]), json!({"id": "x"})] {
            let err = extract_identity(&mappings(), &claims(json!({ "sub": bad })), &limits())
                .unwrap_err();
            assert!(matches!(err, ClaimError::WrongType { .. }), "{err}");
            assert_eq!(err.claim(), "sub");
        }
        let err =
            extract_identity(&mappings(), &claims(json!({"sub": ""})), &limits()).unwrap_err();
        assert!(
            matches!(err, ClaimError::InvalidValue { .. }) && err.claim() == "sub",
            "{err}"
        );
    }

    #[test]
    fn r_jwt_06_uses_the_mapped_user_id_claim() {
        let m = ClaimMappings {
            user_id_claim: "uid".to_owned(),
            ..ClaimMappings::default()
        };
        let id = extract_identity(
            &m,
            &claims(json!({"sub": "dana@example.com", "uid": "00u1b2c3"})),
            &limits(),
        )
        .unwrap();
        assert_eq!(id.external_id.as_str(), "00u1b2c3");
    }

    #[test]
    fn r_cfg_07_claim_names_are_top_level_keys_never_paths() {
        let m = ClaimMappings {
            user_id_claim: "o.id".to_owned(),
            group_claim: Some("https://alter.dev/groups".to_owned()),
            ..ClaimMappings::default()
        };
        // A nested `o.id` does not satisfy the `o.id` claim.
        let nested =
            claims(json!({"o": {"id": "org_1"}, "https": {"//alter": {"dev/groups": ["x"]}}}));
        assert_eq!(
            extract_identity(&m, &nested, &limits()).unwrap_err(),
            ClaimError::MissingUserId {
                claim: "o.id".to_owned()
            }
        );
        let flat = claims(json!({"o.id": "user_1", "https://alter.dev/groups": "org_1"}));
        let id = extract_identity(&m, &flat, &limits()).unwrap();
        assert_eq!(id.external_id.as_str(), "user_1");
        assert_eq!(
            id.groups
                .iter()
                .map(ExternalGroupId::as_str)
                .collect::<Vec<_>>(),
            ["org_1"]
        );
    }

    #[test]
    fn r_jwt_07_group_claim_is_a_string_or_array_of_strings() {
        let rows = [
            (json!("org_1"), vec!["org_1"]),
            (json!(["00g1", "00g2"]), vec!["00g1", "00g2"]),
            (json!([]), vec![]),
            (json!(""), vec![]),
            (Value::Null, vec![]),
        ];
        for (value, expected) in rows {
            let c = claims(json!({"sub": "u", "https://alter.dev/groups": value}));
            let id = extract_identity(&mappings(), &c, &limits()).unwrap();
            assert_eq!(
                id.groups
                    .iter()
                    .map(ExternalGroupId::as_str)
                    .collect::<Vec<_>>(),
                expected
            );
        }
        let absent =
            extract_identity(&mappings(), &claims(json!({"sub": "u"})), &limits()).unwrap();
        assert!(absent.groups.is_empty() && absent.roles.is_empty() && absent.email.is_none());
    }

    #[test]
    fn r_jwt_07_group_and_role_claims_of_other_types_name_the_claim() {
        for (claim, value) in [
            ("https://alter.dev/groups", json!(42)),
            ("https://alter.dev/groups", json!({"a": 1})),
            ("https://alter.dev/groups", json!(["ok", 7])),
            ("https://alter.dev/groups", json!(true)),
            ("roles", json!([null])),
            ("roles", json!({"admin": true})),
        ] {
            let mut c = claims(json!({"sub": "u"}));
            c.insert(claim.to_owned(), value);
            let err = extract_identity(&mappings(), &c, &limits()).unwrap_err();
            assert_eq!(err.claim(), claim);
            assert!(
                err.to_string().contains("a string or an array of strings"),
                "{err}"
            );
        }
        let mut long = claims(json!({"sub": "u"}));
        long.insert(
            "https://alter.dev/groups".to_owned(),
            json!(["x".repeat(513)]),
        );
        assert_eq!(
            extract_identity(&mappings(), &long, &limits())
                .unwrap_err()
                .claim(),
            "https://alter.dev/groups"
        );
    }

    #[test]
    fn r_jwt_07_the_group_claim_is_capped_naming_the_claim_and_the_limit() {
        let many = |n: usize| Value::Array((0..n).map(|i| json!(format!("g{i}"))).collect());
        let limit = ClaimLimits {
            max_group_entries: 3,
        };
        // (group claim value, limits, Ok(groups kept) or Err(entries counted))
        let rows: [(Value, ClaimLimits, Result<usize, usize>); 7] = [
            (many(3), limit, Ok(3)),
            (many(4), limit, Err(4)),
            (json!("g0"), limit, Ok(1)),
            // Duplicates and empty strings count: the cap bounds the work, before dedup.
            (json!(["a", "a", "a", "a"]), limit, Err(4)),
            (json!(["a", "", "a"]), limit, Ok(1)),
            (many(1_000), ClaimLimits::default(), Ok(1_000)),
            (many(5_000), ClaimLimits::default(), Err(5_000)),
        ];
        for (value, limits, expected) in rows {
            let c = claims(json!({"sub": "u", "https://alter.dev/groups": value}));
            match (extract_identity(&mappings(), &c, &limits), expected) {
                (Ok(id), Ok(kept)) => assert_eq!(id.groups.len(), kept),
                (Err(err), Err(count)) => {
                    assert_eq!(
                        err,
                        ClaimError::TooManyEntries {
                            claim: "https://alter.dev/groups".to_owned(),
                            count,
                            limit: limits.max_group_entries,
                        }
                    );
                    let message = err.to_string();
                    assert!(
                        message.contains("\"https://alter.dev/groups\"")
                            && message.contains(&format!("at most {}", limits.max_group_entries)),
                        "{message}"
                    );
                }
                (got, want) => panic!("expected {want:?}, got {got:?}"),
            }
        }
        assert_eq!(ClaimLimits::default().max_group_entries, 1_000);
        // The role claim is not capped: it creates nothing.
        let c = claims(json!({"sub": "u", "roles": many(5)}));
        assert_eq!(
            extract_identity(&mappings(), &c, &limit)
                .unwrap()
                .roles
                .len(),
            5
        );
    }

    #[test]
    fn r_jwt_06_email_and_name_must_be_strings_when_present() {
        let err = extract_identity(
            &mappings(),
            &claims(json!({"sub": "u", "email": ["a@b"]})),
            &limits(),
        )
        .unwrap_err();
        assert_eq!(err.claim(), "email");
        let err = extract_identity(
            &mappings(),
            &claims(json!({"sub": "u", "name": 3})),
            &limits(),
        )
        .unwrap_err();
        assert_eq!(err.claim(), "name");
        let id = extract_identity(
            &mappings(),
            &claims(json!({"sub": "u", "email": null, "name": ""})),
            &limits(),
        )
        .unwrap();
        assert_eq!((id.email, id.display_name), (None, None));
    }

    #[test]
    fn r_jwt_06_unmapped_claims_are_not_read() {
        let m = ClaimMappings::default();
        let c = claims(json!({"sub": "u", "email": 5, "groups": 6, "roles": 7, "name": 8}));
        let id = extract_identity(&m, &c, &limits()).unwrap();
        assert_eq!(
            (id.email, id.display_name, id.groups.len(), id.roles.len()),
            (None, None, 0, 0)
        );
    }
}
