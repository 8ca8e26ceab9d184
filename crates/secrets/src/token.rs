//! Bearer tokens (admin tokens, generated webhook secrets): generated at random, shown once,
//! and stored only as a SHA-256 hash that is compared in constant time.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::zeroize::Zeroize;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::secret::{SecretString, ct_eq};

/// Prefix of generated webhook signing secrets.
pub const WEBHOOK_SECRET_PREFIX: &str = "alt_whk";
/// Prefix of generated admin API tokens.
pub const ADMIN_TOKEN_PREFIX: &str = "alt_adm";

/// Text form prefix of a [`TokenHash`].
const HASH_PREFIX: &str = "sha256:";
/// Random bytes in a generated token (256 bits).
const TOKEN_BYTES: usize = 32;

/// SHA-256 of a bearer token; what we store instead of the token. Text form `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a presented or freshly generated token.
    pub fn of(token: &str) -> Self {
        let hash = digest::digest(&digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(hash.as_ref());
        Self(out)
    }

    /// A digest as a store kept it; `None` unless it is 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The 32 bytes of the digest (what a store keeps).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `token` hashes to this value, compared in constant time.
    pub fn verify(&self, token: &str) -> bool {
        ct_eq(&Self::of(token).0, &self.0)
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HASH_PREFIX}{}", hex::encode(self.0))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({self})")
    }
}

impl FromStr for TokenHash {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let malformed = || Error::Malformed {
            what: "token hash",
            reason: "expected sha256:<64 hex characters>, as printed by \
                     `alter secrets hash-token`; store the hash, not the token"
                .to_owned(),
        };
        let hex_part = s.trim().strip_prefix(HASH_PREFIX).ok_or_else(malformed)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| malformed())?;
        Ok(Self(out))
    }
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A new random token `<prefix>_<base64url of 32 random bytes>` (e.g. `alt_whk_…`); an
/// underscore is added unless `prefix` already ends with one. Show it once, store its hash.
pub fn generate_token(prefix: &str) -> Result<SecretString> {
    let mut bytes = [0u8; TOKEN_BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Random)?;
    let separator = if prefix.is_empty() || prefix.ends_with('_') {
        ""
    } else {
        "_"
    };
    let token = format!("{prefix}{separator}{}", URL_SAFE_NO_PAD.encode(bytes));
    bytes.zeroize();
    Ok(SecretString::new(token))
}

/// The `sha256:<hex>` string to put in config for an admin token (`alter secrets hash-token`).
pub fn hash_admin_token(token: &str) -> String {
    TokenHash::of(token.trim()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_cfg_11_token_hash_verifies_only_the_original_token() {
        let token = generate_token(ADMIN_TOKEN_PREFIX).expect("token");
        let hash = TokenHash::of(token.expose());
        assert!(hash.verify(token.expose()));
        assert!(!hash.verify(&format!("{}x", token.expose())));
        assert!(!hash.verify(""));
        assert!(!hash.to_string().contains(token.expose()));
    }

    #[test]
    fn token_hash_text_form_is_sha256_hex_and_round_trips() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let hash = TokenHash::of("abc");
        let text = hash.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(text.parse::<TokenHash>().expect("parse"), hash);
        assert_eq!(hash_admin_token("abc\n"), text);
        let json = serde_json::to_string(&hash).expect("json");
        assert_eq!(
            serde_json::from_str::<TokenHash>(&json).expect("back"),
            hash
        );
    }

    #[test]
    fn token_hash_parse_rejects_a_raw_token() {
        let err = "alt_adm_abc".parse::<TokenHash>().expect_err("raw token");
        assert!(err.to_string().contains("sha256:<64 hex characters>"));
        assert!("sha256:abcd".parse::<TokenHash>().is_err());
    }

    #[test]
    fn generated_tokens_are_prefixed_url_safe_and_unique() {
        let a = generate_token(WEBHOOK_SECRET_PREFIX).expect("a");
        let b = generate_token("alt_whk_").expect("b");
        for t in [&a, &b] {
            let rest = t.expose().strip_prefix("alt_whk_").expect("prefix");
            assert_eq!(rest.len(), 43);
            assert!(
                rest.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            );
        }
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
