//! Secrets at rest and in memory (R-CFG-11): redacting secret strings, operator-supplied master
//! keys, AES-256-GCM sealing bound to an owner and purpose, hashed bearer tokens, and HMAC.
//!
//! Every comparison of secret material here is constant time, and no type in this crate prints
//! or serialises a secret value.

mod error;
mod hmac;
mod key;
mod seal;
mod secret;
mod token;

pub use error::{Error, Result};
pub use hmac::{hmac_sha256, verify_hmac_sha256};
pub use key::{KeyId, Keyring, MASTER_KEY_CONFIG_KEY, MasterKey, PREVIOUS_KEYS_CONFIG_KEY};
pub use seal::Sealed;
pub use secret::{SecretBytes, SecretString, ct_eq};
pub use token::{
    ADMIN_TOKEN_PREFIX, TokenHash, WEBHOOK_SECRET_PREFIX, generate_token, hash_admin_token,
};
