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
    pub fn matches(&self, aud: &serde_json::Value) -> Result<bool, AudienceClaimError> {
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

/// Why a token's `aud` is not an audience claim at all: RFC 7519 §4.1.3 makes it a string
/// or an array of strings, and anything else is a malformed token, not a wrong audience.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AudienceClaimError {
    #[error("the token's aud claim must be a string or an array of strings, found {found}")]
    WrongType { found: &'static str },
    #[error("the token's aud claim must be an array of strings only: element {index} is {found}")]
    NonStringMember { index: usize, found: &'static str },
}

/// R-CFG-06: `aud` passes when it is a string equal to the configured audience, or an
/// array of strings with such a string among its elements; an array with a non-string
/// member, or any other type, is refused as malformed whatever it holds. An empty
/// configured audience never matches.
pub fn audience_matches(
    configured: &str,
    aud: &serde_json::Value,
) -> Result<bool, AudienceClaimError> {
    use serde_json::Value;
    let matched = match aud {
        Value::String(s) => s == configured,
        Value::Array(items) => {
            let mut matched = false;
            for (index, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => matched |= s == configured,
                    other => {
                        return Err(AudienceClaimError::NonStringMember {
                            index,
                            found: json_type(other),
                        });
                    }
                }
            }
            matched
        }
        other => {
            return Err(AudienceClaimError::WrongType {
                found: json_type(other),
            });
        }
    };
    Ok(matched && !configured.is_empty())
}

fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn r_cfg_06_r_jwt_04_audience_matches_table() {
        use AudienceClaimError::{NonStringMember, WrongType};
        let rows = [
            (json!("https://api.acme.test"), Ok(true)),
            (json!("https://api.acme.test/"), Ok(false)),
            (json!("HTTPS://API.ACME.TEST"), Ok(false)),
            (
                json!([
                    "https://api.acme.test",
                    "https://acme.eu.auth0.com/userinfo"
                ]),
                Ok(true),
            ),
            (
                json!([
                    "https://acme.eu.auth0.com/userinfo",
                    "https://api.acme.test"
                ]),
                Ok(true),
            ),
            (json!(["https://other.test"]), Ok(false)),
            (json!([]), Ok(false)),
            // RFC 7519: an array of strings. Other members make the token malformed, even
            // when the configured audience is among them.
            (
                json!([1, "https://api.acme.test"]),
                Err(NonStringMember {
                    index: 0,
                    found: "a number",
                }),
            ),
            (
                json!(["https://api.acme.test", null]),
                Err(NonStringMember {
                    index: 1,
                    found: "null",
                }),
            ),
            (
                json!([["https://api.acme.test"]]),
                Err(NonStringMember {
                    index: 0,
                    found: "an array",
                }),
            ),
            (
                json!(["x", {"aud": "https://api.acme.test"}]),
                Err(NonStringMember {
                    index: 1,
                    found: "an object",
                }),
            ),
            (json!(null), Err(WrongType { found: "null" })),
            (json!(42), Err(WrongType { found: "a number" })),
            (
                json!({"aud": "https://api.acme.test"}),
                Err(WrongType { found: "an object" }),
            ),
            (json!(true), Err(WrongType { found: "a boolean" })),
        ];
        for (aud, expected) in rows {
            assert_eq!(
                audience_matches("https://api.acme.test", &aud),
                expected,
                "{aud}"
            );
        }
        assert!(
            NonStringMember {
                index: 0,
                found: "a number"
            }
            .to_string()
            .contains("array of strings"),
        );
    }

    #[test]
    fn r_cfg_06_empty_configured_audience_never_matches() {
        assert_eq!(audience_matches("", &json!("")), Ok(false));
        assert_eq!(audience_matches("", &json!([""])), Ok(false));
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
        assert_eq!(aud.matches(&json!("api://default")), Ok(true));
        assert_eq!(aud.matches(&json!(["x", "api://default"])), Ok(true));
        assert_eq!(aud.matches(&json!("api://other")), Ok(false));
        assert!(aud.matches(&json!(["api://default", 7])).is_err());
        let round: Audience = serde_json::from_str(&serde_json::to_string(&aud).unwrap()).unwrap();
        assert_eq!(round, aud);
        assert!(serde_json::from_str::<Audience>("\"\"").is_err());
    }
}
