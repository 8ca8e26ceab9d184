//! Sealed secrets (R-CFG-11): ciphertext produced by alter-secrets, stored per IDP and
//! purpose. This crate never sees plaintext.

use alter_core::{AppId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::common::StoredRow;
use crate::error::StoreResult;

/// What a sealed secret is for; one of each per IDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretPurpose {
    /// The webhook HMAC or bearer secret (R-HOOK-01).
    WebhookSecret,
    /// The directory-sync credential (R-DIR-01).
    DirectoryCredential,
    /// The OIDC sign-in client secret (R-CFG-10).
    ClientSecret,
}

impl SecretPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            SecretPurpose::WebhookSecret => "webhook_secret",
            SecretPurpose::DirectoryCredential => "directory_credential",
            SecretPurpose::ClientSecret => "client_secret",
        }
    }
}

/// An encrypted secret: ciphertext (with its tag), nonce and the ID of the key that sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    pub key_id: String,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("ciphertext_len", &self.ciphertext.len())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SealedSecret {
    /// The keyring's sealed value as it is stored.
    pub fn from_sealed(sealed: alter_secrets::Sealed) -> Self {
        Self {
            ciphertext: sealed.ciphertext,
            nonce: sealed.nonce.to_vec(),
            key_id: sealed.key_id.to_string(),
        }
    }

    /// Opens the stored value as a string, sealed for `context`; the error says why not
    /// (an unknown key ID, a malformed row, a wrong key or context).
    pub fn open_string(
        &self,
        keyring: &alter_secrets::Keyring,
        context: &[u8],
    ) -> Result<alter_secrets::SecretString, String> {
        let key_id = self.key_id.parse().map_err(|e| format!("{e}"))?;
        let nonce: [u8; 12] = self
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| "the stored nonce is not 12 bytes".to_owned())?;
        let parts = alter_secrets::Sealed {
            key_id,
            nonce,
            ciphertext: self.ciphertext.clone(),
        };
        keyring
            .unseal_string(&parts, context)
            .map_err(|e| e.to_string())
    }
}

/// A stored sealed secret with when it was (last) set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSecret {
    pub sealed: SealedSecret,
    pub created_at: DateTime<Utc>,
}

/// Persistence of sealed secrets.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores the secret, replacing any earlier one of the same purpose (rotation).
    /// `NotFound` when the IDP is not in this app.
    async fn put_secret(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
        secret: &SealedSecret,
    ) -> StoreResult<()> {
        self.put_secret_with(app, idp, purpose, secret, Vec::new())
            .await
    }
    /// [`SecretStore::put_secret`] with its side effects (the admin's audit record) in the
    /// same transaction.
    async fn put_secret_with(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
        secret: &SealedSecret,
        effects: Vec<crate::outbox::OutboxMessage>,
    ) -> StoreResult<()>;
    /// The secret, if one is set.
    async fn get_secret(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
    ) -> StoreResult<Option<StoredSecret>>;
    /// Removes the secret (e.g. webhooks disabled). Returns whether one existed.
    async fn delete_secret(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
    ) -> StoreResult<bool>;
}

/// A stored secret from a row of `ciphertext, nonce, key_id, created_at` (either adapter).
pub(crate) fn stored_secret_from_row(row: &impl StoredRow) -> StoreResult<StoredSecret> {
    Ok(StoredSecret {
        sealed: SealedSecret {
            ciphertext: row.get("ciphertext")?,
            nonce: row.get("nonce")?,
            key_id: row.get("key_id")?,
        },
        created_at: row.get("created_at")?,
    })
}
