//! The one error type of this crate; messages name the config key or value at fault and what to
//! do, and never contain secret material.

use crate::key::KeyId;

/// Convenience alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while parsing keys, sealing, unsealing or hashing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operator's master key could not be used; `config_key` says which setting.
    #[error(
        "{config_key} is invalid: {reason}; it must be 32 random bytes encoded as base64 \
         (or 64 hex characters) - generate one with `openssl rand -base64 32` or \
         `alter secrets gen-key`"
    )]
    InvalidMasterKey {
        /// The configuration key holding the bad value (e.g. `secrets.master_key`).
        config_key: String,
        /// Why it was rejected (never includes the value itself).
        reason: String,
    },

    /// The value was sealed under a key the keyring does not hold.
    #[error(
        "sealed value was encrypted with master key {key_id}, which is neither \
         secrets.master_key (key {current}) nor one of secrets.previous_master_keys; \
         add the key it was sealed with to secrets.previous_master_keys"
    )]
    UnknownKey {
        /// Key ID recorded in the sealed value.
        key_id: KeyId,
        /// Key ID of the current master key.
        current: KeyId,
    },

    /// Authentication failed: the ciphertext, nonce or AAD was altered, or the value belongs to a
    /// different owner/purpose than the one it is being opened for.
    #[error(
        "sealed value failed authentication: it was modified, or it was sealed for a different \
         owner or purpose than {aad_hint}; re-enter the secret to seal it again"
    )]
    Tampered {
        /// A printable rendering of the AAD the caller supplied (owner/purpose, not secret).
        aad_hint: String,
    },

    /// A stored sealed value or token hash did not have the expected shape.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was being parsed (e.g. "sealed value", "token hash").
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },

    /// The unsealed plaintext was not UTF-8 although a string was requested.
    #[error("unsealed secret is not valid UTF-8; it was sealed as binary, use unseal instead")]
    NotUtf8,

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed; check the host's entropy source")]
    Random,
}
