//! The operator's master key (`secrets.master_key`) and the keyring that lets old keys keep
//! opening values after a rotation.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::secret::SecretString;

/// Config key holding the current master key; named in every error about it.
pub const MASTER_KEY_CONFIG_KEY: &str = "secrets.master_key";
/// Config key holding retired master keys that may still open old values.
pub const PREVIOUS_KEYS_CONFIG_KEY: &str = "secrets.previous_master_keys";

/// Length of an AES-256 key.
const KEY_LEN: usize = 32;

/// Identifies a master key without revealing it: the first 4 bytes (8 hex chars) of SHA-256 of
/// the key. Stored with each sealed value so the right key can be picked after rotation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl KeyId {
    fn of(key: &[u8; KEY_LEN]) -> Self {
        let hash = digest::digest(&digest::SHA256, key);
        let mut id = [0u8; 4];
        id.copy_from_slice(&hash.as_ref()[..4]);
        Self(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut id = [0u8; 4];
        hex::decode_to_slice(s, &mut id).map_err(|_| Error::Malformed {
            what: "key id",
            reason: format!("expected 8 hex characters, got {s:?}"),
        })?;
        Ok(Self(id))
    }
}

/// A 32-byte AES-256-GCM key supplied by the operator. Never printed; zeroised on drop.
pub struct MasterKey {
    bytes: SecretBox<[u8; KEY_LEN]>,
    id: KeyId,
}

impl MasterKey {
    /// Parses `secrets.master_key`: 32 bytes as base64 (standard or URL-safe) or 64 hex chars.
    pub fn parse(encoded: &str) -> Result<Self> {
        Self::parse_for(MASTER_KEY_CONFIG_KEY, encoded)
    }

    /// Like [`MasterKey::parse`], naming `config_key` (e.g. `secrets.previous_master_keys[0]`)
    /// in errors.
    pub fn parse_for(config_key: &str, encoded: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidMasterKey {
            config_key: config_key.to_owned(),
            reason,
        };
        let encoded = encoded.trim();
        if encoded.is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        let mut decoded =
            if encoded.len() == 2 * KEY_LEN && encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(encoded).map_err(|_| invalid("it is not valid hex".to_owned()))?
            } else {
                STANDARD
                    .decode(encoded)
                    .or_else(|_| URL_SAFE.decode(encoded))
                    .or_else(|_| URL_SAFE_NO_PAD.decode(encoded))
                    .map_err(|_| invalid("it is neither base64 nor 64 hex characters".to_owned()))?
            };
        let result = if decoded.len() == KEY_LEN {
            let mut bytes = [0u8; KEY_LEN];
            bytes.copy_from_slice(&decoded);
            Ok(Self::from_bytes(bytes))
        } else {
            Err(invalid(format!(
                "it decodes to {} bytes, not {KEY_LEN}",
                decoded.len()
            )))
        };
        decoded.zeroize();
        result
    }

    /// A fresh random key, for `alter secrets gen-key` and tests.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Random)?;
        Ok(Self::from_bytes(bytes))
    }

    /// Takes ownership of raw key bytes and wipes the caller's copy.
    fn from_bytes(mut bytes: [u8; KEY_LEN]) -> Self {
        let id = KeyId::of(&bytes);
        let secret = SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| k.copy_from_slice(&bytes));
        bytes.zeroize();
        Self { bytes: secret, id }
    }

    /// The key's public identifier.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key as standard base64, for printing once by `alter secrets gen-key`.
    pub fn to_base64(&self) -> SecretString {
        SecretString::new(STANDARD.encode(self.bytes.expose_secret()))
    }

    pub(crate) fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        self.bytes.expose_secret()
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        Self {
            bytes: SecretBox::init_with_mut(|k: &mut [u8; KEY_LEN]| {
                k.copy_from_slice(self.bytes.expose_secret());
            }),
            id: self.id,
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Reads the key from config; errors name `secrets.master_key`.
impl<'de> Deserialize<'de> for MasterKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = SecretString::deserialize(deserializer)?;
        Self::parse(encoded.expose()).map_err(serde::de::Error::custom)
    }
}

/// Serialises as `"[redacted]"`, like every secret.
impl Serialize for MasterKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(crate::secret::REDACTED)
    }
}

/// The current key (used to seal) plus retired keys (still accepted to unseal), so the
/// operator can rotate `secrets.master_key` without losing stored secrets.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Seals every new value.
    pub current: MasterKey,
    /// Open values sealed before a rotation; never used to seal.
    pub previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring with only the current key.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds retired keys that may still open old values.
    pub fn with_previous(mut self, previous: impl IntoIterator<Item = MasterKey>) -> Self {
        self.previous.extend(previous);
        self
    }

    /// Keys whose ID matches `id`, current first (IDs are 32 bits, so a collision is possible
    /// though unlikely; each candidate is tried).
    pub(crate) fn keys_with_id(&self, id: KeyId) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current)
            .chain(self.previous.iter())
            .filter(move |k| k.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_base64_and_hex_to_the_same_key() {
        let b64 = MasterKey::parse(KEY_B64).expect("base64");
        let hex = MasterKey::parse(KEY_HEX).expect("hex");
        let url = MasterKey::parse(&KEY_B64.replace('=', "")).expect("unpadded");
        assert_eq!(b64.expose_bytes(), hex.expose_bytes());
        assert_eq!(b64.expose_bytes(), url.expose_bytes());
        assert_eq!(b64.id(), hex.id());
    }

    #[test]
    fn key_id_is_first_8_hex_chars_of_sha256() {
        let key = MasterKey::parse(KEY_HEX).expect("hex");
        let hash = digest::digest(&digest::SHA256, key.expose_bytes());
        assert_eq!(key.id().to_string(), hex::encode(hash.as_ref())[..8]);
        assert_eq!(
            key.id().to_string().parse::<KeyId>().expect("parse"),
            key.id()
        );
    }

    #[test]
    fn r_cfg_11_parse_errors_name_the_config_key_and_how_to_generate_one() {
        for bad in ["", "not base64 at all!", "c2hvcnQ=", &KEY_HEX[..62]] {
            let err = MasterKey::parse(bad).expect_err("must fail").to_string();
            assert!(err.contains("secrets.master_key"), "{err}");
            assert!(err.contains("openssl rand -base64 32"), "{err}");
            assert!(err.contains("alter secrets gen-key"), "{err}");
        }
        let err = MasterKey::parse("c2hvcnQ=").expect_err("short").to_string();
        assert!(err.contains("decodes to 5 bytes, not 32"), "{err}");
        assert!(
            !err.contains("c2hvcnQ"),
            "error must not echo the value: {err}"
        );
    }

    #[test]
    fn r_cfg_11_master_key_is_never_printed_or_serialised() {
        let key = MasterKey::parse(KEY_B64).expect("key");
        let debug = format!("{:?}", Keyring::new(key.clone()));
        let json = serde_json::to_string(&key).expect("json");
        for rendered in [&debug, &json] {
            assert!(!rendered.contains(KEY_B64), "{rendered}");
            assert!(!rendered.contains(KEY_HEX), "{rendered}");
        }
        assert!(debug.contains(&key.id().to_string()));
    }

    #[test]
    fn deserialises_from_config_and_names_the_key_on_error() {
        let key: MasterKey = serde_json::from_str(&format!("\"{KEY_B64}\"")).expect("key");
        assert_eq!(key.to_base64().expose(), KEY_B64);
        let err = serde_json::from_str::<MasterKey>("\"nope\"")
            .expect_err("bad")
            .to_string();
        assert!(err.contains("secrets.master_key"), "{err}");
    }

    #[test]
    fn generated_keys_are_distinct_and_round_trip_through_base64() {
        let a = MasterKey::generate().expect("a");
        let b = MasterKey::generate().expect("b");
        assert_ne!(a.id(), b.id());
        let again = MasterKey::parse(a.to_base64().expose()).expect("reparse");
        assert_eq!(again.id(), a.id());
    }
}
