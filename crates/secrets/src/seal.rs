//! Sealing secrets at rest with AES-256-GCM. The AAD names the secret's owner and purpose
//! (e.g. `app:<id>/idp:<id>/webhook_secret`) so a sealed blob copied to another row won't open.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::zeroize::Zeroize;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::key::{KeyId, Keyring, MasterKey};
use crate::secret::{SecretBytes, SecretString};

/// Version tag of the string form; bump if the format or cipher changes.
const FORMAT_V1: &str = "v1";
/// AES-GCM authentication tag length.
const TAG_LEN: usize = 16;

/// An encrypted secret as stored: which key sealed it, the random nonce, and the ciphertext
/// with its GCM tag appended. Its string form is `v1:<key_id>:<nonce b64url>:<ct b64url>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The master key that sealed this value.
    pub key_id: KeyId,
    /// Random 96-bit nonce, unique per seal.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl Keyring {
    /// Encrypts `plaintext` under the current key, bound to `aad` (the owner and purpose).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed> {
        let key = aead_key(&self.current)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Random)?;
        let mut in_out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        in_out.extend_from_slice(plaintext);
        if key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .is_err()
        {
            in_out.zeroize();
            // Only possible for inputs beyond GCM's ~64 GiB limit.
            return Err(Error::Malformed {
                what: "plaintext",
                reason: "too large to seal".to_owned(),
            });
        }
        Ok(Sealed {
            key_id: self.current.id(),
            nonce,
            ciphertext: in_out,
        })
    }

    /// Encrypts a secret string; see [`Keyring::seal`].
    pub fn seal_str(&self, plaintext: &SecretString, aad: &[u8]) -> Result<Sealed> {
        self.seal(plaintext.expose().as_bytes(), aad)
    }

    /// Decrypts `sealed` with whichever key sealed it, checking it was sealed for `aad`.
    /// Fails with [`Error::UnknownKey`] if no key matches, or [`Error::Tampered`] if the
    /// ciphertext, nonce or AAD does not authenticate.
    pub fn unseal(&self, sealed: &Sealed, aad: &[u8]) -> Result<SecretBytes> {
        let mut any_key = false;
        for master in self.keys_with_id(sealed.key_id) {
            any_key = true;
            let mut in_out = sealed.ciphertext.clone();
            let opened = aead_key(master)?
                .open_in_place(
                    Nonce::assume_unique_for_key(sealed.nonce),
                    Aad::from(aad),
                    &mut in_out,
                )
                .map(|plain| plain.len());
            match opened {
                Ok(len) => {
                    in_out.truncate(len);
                    return Ok(SecretBytes::from(in_out));
                }
                Err(_) => in_out.zeroize(),
            }
        }
        if any_key {
            Err(Error::Tampered {
                aad_hint: String::from_utf8_lossy(aad).into_owned(),
            })
        } else {
            Err(Error::UnknownKey {
                key_id: sealed.key_id,
                current: self.current.id(),
            })
        }
    }

    /// Decrypts a value sealed from a string; see [`Keyring::unseal`].
    pub fn unseal_string(&self, sealed: &Sealed, aad: &[u8]) -> Result<SecretString> {
        use secrecy::ExposeSecret as _;
        let bytes = self.unseal(sealed, aad)?;
        match std::str::from_utf8(bytes.expose_secret()) {
            Ok(text) => Ok(SecretString::new(text)),
            Err(_) => Err(Error::NotUtf8),
        }
    }

    /// Whether `sealed` was sealed under a previous key and should be re-sealed with the
    /// current one (for a rotation sweep).
    pub fn needs_reseal(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.current.id()
    }
}

fn aead_key(master: &MasterKey) -> Result<LessSafeKey> {
    // MasterKey always holds 32 bytes, which AES_256_GCM accepts; the error is defensive.
    UnboundKey::new(&AES_256_GCM, master.expose_bytes())
        .map(LessSafeKey::new)
        .map_err(|_| Error::InvalidMasterKey {
            config_key: crate::key::MASTER_KEY_CONFIG_KEY.to_owned(),
            reason: "the AES-256-GCM key could not be initialised".to_owned(),
        })
}

impl fmt::Display for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{FORMAT_V1}:{}:{}:{}",
            self.key_id,
            URL_SAFE_NO_PAD.encode(self.nonce),
            URL_SAFE_NO_PAD.encode(&self.ciphertext)
        )
    }
}

/// Ciphertext is not secret, but the string form is long; show only the key and size.
impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

impl FromStr for Sealed {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let malformed = |reason: &str| Error::Malformed {
            what: "sealed value",
            reason: format!("{reason}; expected v1:<key id>:<nonce>:<ciphertext>"),
        };
        let mut parts = s.split(':');
        let (Some(version), Some(key_id), Some(nonce), Some(ciphertext), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed("wrong number of ':'-separated parts"));
        };
        if version != FORMAT_V1 {
            return Err(malformed(&format!("unsupported version {version:?}")));
        }
        let key_id = key_id.parse::<KeyId>()?;
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
            .ok_or_else(|| malformed("nonce is not 12 base64url bytes"))?;
        let ciphertext = URL_SAFE_NO_PAD
            .decode(ciphertext)
            .map_err(|_| malformed("ciphertext is not base64url"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(malformed(
                "ciphertext is shorter than the authentication tag",
            ));
        }
        Ok(Self {
            key_id,
            nonce,
            ciphertext,
        })
    }
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    const SECRET: &str = "whsec_super-secret-signing-key";
    const AAD: &[u8] = b"app:1/idp:7/webhook_secret";

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::generate().expect("key"))
    }

    #[test]
    fn r_cfg_11_seal_unseal_round_trip() {
        let ring = keyring();
        let sealed = ring.seal(SECRET.as_bytes(), AAD).expect("seal");
        assert_eq!(sealed.key_id, ring.current.id());
        assert!(
            !sealed
                .ciphertext
                .windows(SECRET.len())
                .any(|w| w == SECRET.as_bytes())
        );
        let opened = ring.unseal(&sealed, AAD).expect("unseal");
        assert_eq!(opened.expose_secret(), SECRET.as_bytes());

        let stored = sealed.to_string();
        let reparsed: Sealed = stored.parse().expect("parse");
        assert_eq!(reparsed, sealed);
        let text = ring.unseal_string(&reparsed, AAD).expect("unseal string");
        assert_eq!(text.expose(), SECRET);
    }

    #[test]
    fn r_cfg_11_each_seal_uses_a_fresh_nonce() {
        let ring = keyring();
        let a = ring.seal(SECRET.as_bytes(), AAD).expect("a");
        let b = ring.seal(SECRET.as_bytes(), AAD).expect("b");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn r_cfg_11_tampered_ciphertext_nonce_or_aad_is_rejected() {
        let ring = keyring();
        let sealed = ring.seal(SECRET.as_bytes(), AAD).expect("seal");

        let mut bad_ct = sealed.clone();
        bad_ct.ciphertext[0] ^= 1;
        let mut bad_tag = sealed.clone();
        if let Some(last) = bad_tag.ciphertext.last_mut() {
            *last ^= 0x80;
        }
        let mut bad_nonce = sealed.clone();
        bad_nonce.nonce[0] ^= 1;
        for tampered in [&bad_ct, &bad_tag, &bad_nonce] {
            let err = ring.unseal(tampered, AAD).expect_err("tampered");
            assert!(matches!(err, Error::Tampered { .. }), "{err:?}");
        }

        // The same blob moved to another app's row does not open.
        let err = ring
            .unseal(&sealed, b"app:2/idp:7/webhook_secret")
            .expect_err("moved row");
        assert!(matches!(err, Error::Tampered { .. }), "{err:?}");
        let message = err.to_string();
        assert!(!message.contains(SECRET), "{message}");
        assert!(message.contains("app:2/idp:7/webhook_secret"), "{message}");
    }

    #[test]
    fn r_cfg_11_wrong_key_is_rejected_without_leaking() {
        let sealed = keyring().seal(SECRET.as_bytes(), AAD).expect("seal");
        let other = keyring();
        let err = other.unseal(&sealed, AAD).expect_err("wrong key");
        match &err {
            Error::UnknownKey { key_id, current } => {
                assert_eq!(*key_id, sealed.key_id);
                assert_eq!(*current, other.current.id());
            }
            other => panic!("expected UnknownKey, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("secrets.previous_master_keys"),
            "{message}"
        );
        assert!(!message.contains(SECRET), "{message}");
    }

    #[test]
    fn r_cfg_11_keyring_unseals_with_a_previous_key_and_seals_with_the_current() {
        let old = MasterKey::generate().expect("old");
        let sealed_before_rotation = Keyring::new(old.clone())
            .seal(SECRET.as_bytes(), AAD)
            .expect("seal");

        let rotated = Keyring::new(MasterKey::generate().expect("new")).with_previous([old]);
        assert!(rotated.needs_reseal(&sealed_before_rotation));
        let opened = rotated
            .unseal_string(&sealed_before_rotation, AAD)
            .expect("previous key opens");
        assert_eq!(opened.expose(), SECRET);

        let resealed = rotated.seal_str(&opened, AAD).expect("reseal");
        assert_eq!(resealed.key_id, rotated.current.id());
        assert!(!rotated.needs_reseal(&resealed));
    }

    #[test]
    fn r_cfg_11_sealed_debug_and_serialisation_do_not_contain_plaintext() {
        let ring = keyring();
        let sealed = ring.seal(SECRET.as_bytes(), AAD).expect("seal");
        let json = serde_json::to_string(&sealed).expect("json");
        assert!(!json.contains(SECRET));
        assert!(!format!("{sealed:?}").contains(SECRET));
        let back: Sealed = serde_json::from_str(&json).expect("back");
        assert_eq!(back, sealed);
    }

    #[test]
    fn malformed_sealed_strings_are_rejected_with_the_expected_shape() {
        for bad in [
            "",
            "v2:00000000:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA",
            "v1:zz:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA",
            "v1:00000000:AAAA:AAAAAAAAAAAAAAAAAAAAAA",
            "v1:00000000:AAAAAAAAAAAAAAAA:AAAA",
            "v1:00000000:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA:extra",
        ] {
            assert!(bad.parse::<Sealed>().is_err(), "{bad:?} parsed");
        }
        let ok = "v1:00000000:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA"
            .parse::<Sealed>()
            .expect("well-formed");
        assert_eq!(ok.ciphertext.len(), TAG_LEN);
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let ring = keyring();
        let sealed = ring.seal(b"", AAD).expect("seal");
        assert!(
            ring.unseal(&sealed, AAD)
                .expect("open")
                .expose_secret()
                .is_empty()
        );
    }
}
