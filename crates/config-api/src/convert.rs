//! Between the wire (`alter.admin.v1`, `alter.identity.v1`) and the domain: parsing request
//! fields at the edge (every error names the field) and rendering stored rows.

use alter_core::{ClaimMappings, FieldError, IdpKind, Principal, UserStatus};
use alter_proto::admin::v1 as pb;
use alter_proto::identity::v1 as id;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::Error;

/// RFC 3339 in UTC with microseconds, as every timestamp is answered.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

/// An optional RFC 3339 request field; empty means unset.
pub fn parse_time(field: &str, input: &str) -> Result<Option<DateTime<Utc>>, FieldError> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(input.trim())
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            FieldError::new(
                field,
                format!(
                    "must be an RFC 3339 time such as 2030-01-31T00:00:00Z, got {input:?} ({e})"
                ),
            )
        })
}

/// A required ID field (`AppId`, `GrantId`, …).
pub fn parse_id<T>(
    field: &str,
    input: &str,
    parse: fn(&str, &str) -> Result<T, FieldError>,
) -> Result<T, Error> {
    if input.trim().is_empty() {
        return Err(FieldError::new(
            field,
            "is required: give the UUID, e.g. from the matching list command",
        )
        .into());
    }
    Ok(parse(field, input.trim())?)
}

/// The stated kind; unspecified means "recognise it from the issuer".
pub fn kind_from_pb(field: &str, raw: i32) -> Result<Option<IdpKind>, FieldError> {
    match pb::IdpKind::try_from(raw) {
        Ok(pb::IdpKind::Unspecified) => Ok(None),
        Ok(pb::IdpKind::Auth0) => Ok(Some(IdpKind::Auth0)),
        Ok(pb::IdpKind::Clerk) => Ok(Some(IdpKind::Clerk)),
        Ok(pb::IdpKind::Okta) => Ok(Some(IdpKind::Okta)),
        Ok(pb::IdpKind::CustomOidc) => Ok(Some(IdpKind::CustomOidc)),
        Err(_) => Err(FieldError::new(
            field,
            format!("has unknown value {raw}: use auth0, clerk, okta or custom_oidc"),
        )),
    }
}

pub fn kind_to_pb(kind: IdpKind) -> pb::IdpKind {
    match kind {
        IdpKind::Auth0 => pb::IdpKind::Auth0,
        IdpKind::Clerk => pb::IdpKind::Clerk,
        IdpKind::Okta => pb::IdpKind::Okta,
        IdpKind::CustomOidc => pb::IdpKind::CustomOidc,
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Wire mappings to the domain: proto3 cannot tell unset from empty, so an empty user-ID
/// claim means the default `sub` (R-CFG-07) and an empty optional claim means "not mapped".
/// Validation is core's (`ClaimMappings::validate`).
pub fn mappings_from_pb(m: &pb::ClaimMappings) -> ClaimMappings {
    ClaimMappings {
        user_id_claim: non_empty(&m.user_id_claim)
            .unwrap_or_else(|| ClaimMappings::default().user_id_claim),
        group_claim: non_empty(&m.group_claim),
        role_claim: non_empty(&m.role_claim),
        email_claim: non_empty(&m.email_claim),
        display_name_claim: non_empty(&m.display_name_claim),
        group_claim_stable_ids: m.group_claim_stable_ids,
    }
}

pub fn mappings_to_pb(m: &ClaimMappings) -> pb::ClaimMappings {
    pb::ClaimMappings {
        user_id_claim: m.user_id_claim.clone(),
        group_claim: m.group_claim.clone().unwrap_or_default(),
        role_claim: m.role_claim.clone().unwrap_or_default(),
        email_claim: m.email_claim.clone().unwrap_or_default(),
        display_name_claim: m.display_name_claim.clone().unwrap_or_default(),
        group_claim_stable_ids: m.group_claim_stable_ids,
    }
}

pub fn app_to_pb(app: &alter_store::App) -> pb::App {
    pb::App {
        id: app.id.to_string(),
        name: app.name.clone(),
        created_at: time(app.created_at),
    }
}

pub fn idp_to_pb(idp: &alter_store::IdentityProvider) -> pb::IdentityProvider {
    pb::IdentityProvider {
        id: idp.id.to_string(),
        app_id: idp.app_id.to_string(),
        kind: kind_to_pb(idp.kind).into(),
        issuer: idp.issuer.clone(),
        jwks_uri: idp.jwks_uri.clone(),
        audience: idp.audience.clone(),
        claim_mappings: Some(mappings_to_pb(&idp.claim_mappings)),
        claim_mappings_locked: idp.claim_mappings_locked_at.is_some(),
        created_at: time(idp.created_at),
    }
}

pub fn grant_to_pb(grant: &alter_store::Grant) -> id::Grant {
    let (kind, principal_id) = match grant.principal {
        Principal::User(user) => (id::PrincipalKind::User, user.to_string()),
        Principal::Group(group) => (id::PrincipalKind::Group, group.to_string()),
        Principal::System => (id::PrincipalKind::System, String::new()),
    };
    id::Grant {
        id: grant.id.to_string(),
        credential_ref: grant.credential_ref.clone(),
        principal_kind: kind.into(),
        principal_id,
        expires_at: opt_time(grant.expires_at),
    }
}

pub fn grant_status_to_pb(grant: &alter_store::Grant) -> pb::GrantStatus {
    pb::GrantStatus {
        grant_id: grant.id.to_string(),
        created_at: time(grant.created_at),
        revoked_at: opt_time(grant.revoked_at),
        revoked_by: grant
            .revoked_by
            .as_ref()
            .map(|by| format!("{}: {}", by.source.as_str(), by.cause))
            .unwrap_or_default(),
    }
}

pub fn user_to_pb(user: &alter_store::User) -> id::User {
    id::User {
        id: user.id.to_string(),
        external_id: user.external_id.to_string(),
        email: user.email.clone().unwrap_or_default(),
        display_name: user.display_name.clone().unwrap_or_default(),
        status: match user.status {
            UserStatus::Active => id::UserStatus::Active,
            UserStatus::Suspended => id::UserStatus::Suspended,
            UserStatus::Deprovisioned => id::UserStatus::Deprovisioned,
        }
        .into(),
    }
}

pub fn group_to_pb(group: &alter_store::Group) -> id::Group {
    id::Group {
        id: group.id.to_string(),
        external_id: group.external_id.to_string(),
        name: group.name.clone().unwrap_or_default(),
    }
}

pub fn audit_to_pb(event: &alter_store::AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: event.seq.to_string(),
        app_id: event.app_id.to_string(),
        kind: event.kind.clone(),
        source: event.source.as_str().to_owned(),
        user_id: event.user_id.map(|u| u.to_string()).unwrap_or_default(),
        event_id: event.event_id.to_string(),
        occurred_at: time(event.occurred_at),
        detail_json: event.detail.to_string(),
    }
}

/// Default and largest page sizes of every list call.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;

/// A page size from the request: 0 means the default; above the maximum is capped.
pub fn page_size(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}

/// The opaque page token: the last ID of the previous page (empty for the first page).
pub fn page_after<T>(
    input: &str,
    parse: fn(&str, &str) -> Result<T, FieldError>,
) -> Result<Option<T>, Error> {
    if input.is_empty() {
        return Ok(None);
    }
    parse("page_token", input).map(Some).map_err(|_| {
        FieldError::new("page_token", "is not a token this API issued: pass next_page_token from the previous answer unchanged, or leave it empty for the first page").into()
    })
}

/// Splits `rows` (fetched with `size + 1`) into the page and the next page token.
pub fn paginate<T>(
    mut rows: Vec<T>,
    size: u32,
    last_id: impl Fn(&T) -> String,
) -> (Vec<T>, String) {
    let size = size as usize;
    if rows.len() > size {
        rows.truncate(size);
        let token = rows.last().map(&last_id).unwrap_or_default();
        (rows, token)
    } else {
        (rows, String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_cfg_07_empty_user_id_claim_defaults_to_sub_and_names_with_dots_and_slashes_survive() {
        let m = mappings_from_pb(&pb::ClaimMappings {
            group_claim: "https://alter.dev/groups".into(),
            role_claim: "app.roles".into(),
            ..Default::default()
        });
        assert_eq!(m.user_id_claim, "sub");
        assert_eq!(m.group_claim.as_deref(), Some("https://alter.dev/groups"));
        assert_eq!(m.email_claim, None);
        assert_eq!(mappings_from_pb(&mappings_to_pb(&m)), m);
    }

    #[test]
    fn paginate_gives_a_token_only_when_more_rows_exist() {
        let (page, token) = paginate(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((page, token.as_str()), (vec![1, 2], "2"));
        let (page, token) = paginate(vec![1, 2], 2, |n| n.to_string());
        assert_eq!((page, token.as_str()), (vec![1, 2], ""));
    }

    #[test]
    fn bad_page_tokens_and_times_name_the_field() {
        let err = page_after("nope", alter_core::AppId::parse).unwrap_err();
        assert!(err.to_string().starts_with("page_token "), "{err}");
        let err = parse_time("expires_at", "tomorrow").unwrap_err();
        assert_eq!(err.field, "expires_at");
        assert_eq!(parse_time("expires_at", "").unwrap(), None);
    }
}
