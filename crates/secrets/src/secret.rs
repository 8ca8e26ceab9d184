//! In-memory secret values: they print and serialise as `[redacted]`, are wiped on drop, and are
//! only readable through an explicit `expose()`.

use std::fmt;

use secrecy::ExposeSecret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// What every secret prints and serialises as.
pub(crate) const REDACTED: &str = "[redacted]";

/// Secret bytes (e.g. an unsealed binary secret); zeroised on drop, `Debug` is redacted.
pub type SecretBytes = secrecy::SecretSlice<u8>;

/// A secret string (client secret, webhook secret, token): redacted in `Debug`, `Display` and
/// `Serialize`, deserialised from a plain string, zeroised on drop.
#[derive(Clone, Default)]
pub struct SecretString(secrecy::SecretString);

impl SecretString {
    /// Wraps a value that must not be logged or returned again.
    pub fn new(value: impl Into<String>) -> Self {
        Self(secrecy::SecretString::from(value.into()))
    }

    /// The secret itself. Call only where the value is used (sent to an IDP, fed to a cipher).
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the secret is the empty string (config validation uses this).
    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Constant-time comparison, so equality checks on secrets do not leak a matching prefix.
impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

impl Eq for SecretString {}

/// Serialises as `"[redacted]"` so a config dump or API response can never carry the secret.
impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        secrecy::SecretString::deserialize(deserializer).map(Self)
    }
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// first differ. Use for every comparison involving secret or secret-derived bytes.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2-very-secret-value";

    #[test]
    fn r_cfg_11_debug_and_display_never_show_the_secret() {
        let secret = SecretString::new(SECRET);
        let debug = format!("{secret:?}");
        let display = format!("{secret}");
        let nested = format!("{:?}", Some(vec![secret.clone()]));
        for rendered in [&debug, &display, &nested] {
            assert!(!rendered.contains(SECRET), "leaked in {rendered}");
            assert!(rendered.contains(REDACTED));
        }
    }

    #[test]
    fn r_cfg_11_serialize_redacts_the_secret() {
        #[derive(Serialize)]
        struct Config {
            client_secret: SecretString,
        }
        let json = serde_json::to_string(&Config {
            client_secret: SecretString::new(SECRET),
        })
        .expect("serialise");
        assert!(!json.contains(SECRET), "leaked in {json}");
        assert_eq!(json, r#"{"client_secret":"[redacted]"}"#);
    }

    #[test]
    fn r_cfg_11_deserialize_reads_the_plain_string_and_expose_returns_it() {
        let secret: SecretString = serde_json::from_str(&format!("\"{SECRET}\"")).expect("parse");
        assert_eq!(secret.expose(), SECRET);
        assert!(!secret.is_empty());
    }

    #[test]
    fn ct_eq_matches_only_identical_bytes() {
        assert!(ct_eq(b"same", b"same"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"same", b"samf"));
        assert!(!ct_eq(b"same", b"sam"));
        assert!(!ct_eq(b"same", b""));
    }

    #[test]
    fn secret_string_equality_compares_values() {
        assert_eq!(SecretString::new("a"), SecretString::new("a"));
        assert_ne!(SecretString::new("a"), SecretString::new("b"));
    }
}
