//! The audience an IDP's tokens must be minted for (R-CFG-06, R-JWT-04): required when an
//! IDP is configured, and matched against a token's `aud`, which may be a string or an array.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::FieldError;

/// A configured audience, exactly as tokens carry it (e.g. `https://api.acme.test`,
/// `api://default`). `parse` is the only way in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Audience(String);

impl Audience {
    /// Longest audience accepted, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Parses untrusted input: required, at most 1024 bytes, no surrounding whitespace and
    /// no control characters (the comparison is exact, so stray spaces would never match).
    pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
        if input.trim().is_empty() {
            return Err(FieldError::new(
                field,
                "is required: give the audience your tokens carry in aud (e.g. your API identifier, or api://default on Okta)",
            ));
        }
        if input.len() > Self::MAX_LEN {
            return Err(FieldError::new(
                field,
                format!(
                    "is {} bytes long: an audience may be at most {} bytes",
                    input.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        if input.trim() != input || input.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "has surrounding whitespace or control characters: paste the aud value exactly as in your tokens",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a token's `aud` names this audience (see [`audience_matches`]).
    pub fn matches(&self, aud: &serde_json::Value) -> bool {
        audience_matches(&self.0, aud)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Audience {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Audience::parse("audience", &value)
    }
}

impl From<Audience> for String {
    fn from(audience: Audience) -> Self {
        audience.0
    }
}

/// R-CFG-06: `aud` passes when it is a string equal to the configured audience, or an
/// array with such a string among its elements. Every other shape fails, and an empty
/// configured audience never matches.
pub fn audience_matches(configured: &str, aud: &serde_json::Value) -> bool {
    use serde_json::Value;
    if configured.is_empty() {
        return false;
    }
    match aud {
        Value::String(s) => s == configured,
        Value::Array(items) => items.iter().any(|item| item.as_str() == Some(configured)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn r_cfg_06_audience_matches_table() {
        let rows = [
            (json!("https://api.acme.test"), true),
            (json!("https://api.acme.test/"), false),
            (json!("HTTPS://API.ACME.TEST"), false),
            (
                json!([
                    "https://api.acme.test",
                    "https://acme.eu.auth0.com/userinfo"
                ]),
                true,
            ),
            (
                json!([
                    "https://acme.eu.auth0.com/userinfo",
                    "https://api.acme.test"
                ]),
                true,
            ),
            (json!(["https://other.test"]), false),
            (json!([]), false),
            (json!([["https://api.acme.test"]]), false),
            (json!([1, "https://api.acme.test"]), true),
            (json!(null), false),
            (json!(42), false),
            (json!({"aud": "https://api.acme.test"}), false),
            (json!(true), false),
        ];
        for (aud, expected) in rows {
            assert_eq!(
                audience_matches("https://api.acme.test", &aud),
                expected,
                "{aud}"
            );
        }
    }

    #[test]
    fn r_cfg_06_empty_configured_audience_never_matches() {
        assert!(!audience_matches("", &json!("")));
        assert!(!audience_matches("", &json!([""])));
    }

    #[test]
    fn r_cfg_06_audience_is_required() {
        for input in ["", "  "] {
            let err = Audience::parse("audience", input).unwrap_err();
            assert_eq!(err.field, "audience");
            assert!(err.message.contains("required"), "{err}");
        }
        assert!(
            Audience::parse("audience", " api://default")
                .unwrap_err()
                .message
                .contains("whitespace")
        );
        assert!(Audience::parse("audience", "a\u{7}").is_err());
        assert!(
            Audience::parse("audience", &"a".repeat(1025))
                .unwrap_err()
                .message
                .contains("at most")
        );
    }

    #[test]
    fn r_cfg_06_parsed_audience_matches_string_or_array() {
        let aud = Audience::parse("audience", "api://default").unwrap();
        assert_eq!(aud.as_str(), "api://default");
        assert!(aud.matches(&json!("api://default")));
        assert!(aud.matches(&json!(["x", "api://default"])));
        assert!(!aud.matches(&json!("api://other")));
        let round: Audience = serde_json::from_str(&serde_json::to_string(&aud).unwrap()).unwrap();
        assert_eq!(round, aud);
        assert!(serde_json::from_str::<Audience>("\"\"").is_err());
    }
}
