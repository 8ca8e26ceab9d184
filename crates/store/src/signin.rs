//! The short-lived state of OIDC sign-ins (R-OIDC-01): flows between the redirect to the
//! identity provider and its callback, and finished sign-ins (one-time result codes, Wallet
//! sessions). Rows are keyed by SHA-256 digests of the values the browser holds, never the
//! values; what must stay secret (nonce, PKCE verifier, the provider's tokens) is sealed by
//! the caller. Each is taken once: `take_*` deletes the row it returns, so of two concurrent
//! takes exactly one gets it.

use alter_core::{AppId, IdpId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::common::StoredRow;
use crate::error::{StoreError, StoreResult};
use crate::secrets::SealedSecret;

/// What a sign-in is for: `app.authenticate()` (ends with a result code for the app's
/// backend) or the Wallet (ends with a Wallet session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInPurpose {
    App,
    Wallet,
}

impl SignInPurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            SignInPurpose::App => "app",
            SignInPurpose::Wallet => "wallet",
        }
    }

    fn parse(value: &str) -> StoreResult<Self> {
        match value {
            "app" => Ok(SignInPurpose::App),
            "wallet" => Ok(SignInPurpose::Wallet),
            other => Err(StoreError::corrupt(
                "sign-in purpose",
                format!("{other:?} is not app or wallet"),
            )),
        }
    }
}

/// A sign-in waiting for the identity provider's callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInFlow {
    /// SHA-256 of the `state` sent to the identity provider.
    pub state_digest: Vec<u8>,
    /// SHA-256 of the browser-binding cookie set when the flow started.
    pub browser_digest: Vec<u8>,
    pub app_id: AppId,
    pub idp_id: IdpId,
    pub purpose: SignInPurpose,
    /// One of the app's allowed return URLs (the Wallet's own page for the Wallet).
    pub return_url: String,
    /// The app's own `state`, echoed back on the return URL.
    pub app_state: Option<String>,
    /// The nonce and PKCE verifier, sealed.
    pub sealed: SealedSecret,
    pub expires_at: DateTime<Utc>,
}

/// What a finished sign-in is kept as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// A one-time result code, redeemed by the app's backend.
    Result,
    /// A Wallet session, bound to the browser's cookie until logout or expiry.
    Wallet,
}

impl SessionKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionKind::Result => "result",
            SessionKind::Wallet => "wallet",
        }
    }
}

/// A finished sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInSession {
    /// SHA-256 of the result code or the Wallet session cookie.
    pub digest: Vec<u8>,
    pub kind: SessionKind,
    pub app_id: AppId,
    pub idp_id: IdpId,
    pub user_id: UserId,
    pub return_url: String,
    /// The identity provider's tokens and the sign-in's nonce, sealed.
    pub sealed: SealedSecret,
    pub expires_at: DateTime<Utc>,
}

/// Persistence of sign-in flows and sessions.
#[async_trait]
pub trait SignInStore: Send + Sync {
    /// Stores a new flow. `NotFound` when the IDP is not the app's; `AlreadyExists` for a
    /// digest already stored.
    async fn create_sign_in_flow(&self, flow: &SignInFlow) -> StoreResult<()>;
    /// Takes (deletes and returns) the app's flow of this state digest, expired or not, so
    /// that it can never be used twice.
    async fn take_sign_in_flow(
        &self,
        app: AppId,
        state_digest: &[u8],
    ) -> StoreResult<Option<SignInFlow>>;
    /// Stores a finished sign-in. `NotFound` when the IDP or user is unknown.
    async fn create_sign_in_session(&self, session: &SignInSession) -> StoreResult<()>;
    /// Takes (deletes and returns) the app's session of this kind and digest.
    async fn take_sign_in_session(
        &self,
        app: AppId,
        kind: SessionKind,
        digest: &[u8],
    ) -> StoreResult<Option<SignInSession>>;
    /// The app's session of this kind and digest, left in place.
    async fn get_sign_in_session(
        &self,
        app: AppId,
        kind: SessionKind,
        digest: &[u8],
    ) -> StoreResult<Option<SignInSession>>;
    /// Deletes every flow and session that expired before `now`; returns how many.
    async fn purge_expired_sign_ins(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// The columns [`flow_from_row`] reads, in both schemas.
macro_rules! flow_columns {
    () => {
        "state_digest, browser_digest, app_id, idp_id, purpose, return_url, app_state, \
         sealed_ciphertext, sealed_nonce, sealed_key_id, expires_at"
    };
}
pub(crate) use flow_columns;

/// The columns [`session_from_row`] reads, in both schemas.
macro_rules! session_columns {
    () => {
        "digest, kind, app_id, idp_id, user_id, return_url, sealed_ciphertext, sealed_nonce, \
         sealed_key_id, expires_at"
    };
}
pub(crate) use session_columns;

fn sealed_from_row(row: &impl StoredRow) -> StoreResult<SealedSecret> {
    Ok(SealedSecret {
        ciphertext: row.get("sealed_ciphertext")?,
        nonce: row.get("sealed_nonce")?,
        key_id: row.get("sealed_key_id")?,
    })
}

pub(crate) fn flow_from_row(row: &impl StoredRow) -> StoreResult<SignInFlow> {
    let purpose: String = row.get("purpose")?;
    Ok(SignInFlow {
        state_digest: row.get("state_digest")?,
        browser_digest: row.get("browser_digest")?,
        app_id: AppId::from_uuid(row.get("app_id")?),
        idp_id: IdpId::from_uuid(row.get("idp_id")?),
        purpose: SignInPurpose::parse(&purpose)?,
        return_url: row.get("return_url")?,
        app_state: row.get("app_state")?,
        sealed: sealed_from_row(row)?,
        expires_at: row.get("expires_at")?,
    })
}

pub(crate) fn session_from_row(row: &impl StoredRow) -> StoreResult<SignInSession> {
    let kind: String = row.get("kind")?;
    let kind = match kind.as_str() {
        "result" => SessionKind::Result,
        "wallet" => SessionKind::Wallet,
        other => {
            return Err(StoreError::corrupt(
                "sign-in session kind",
                format!("{other:?} is not result or wallet"),
            ));
        }
    };
    Ok(SignInSession {
        digest: row.get("digest")?,
        kind,
        app_id: AppId::from_uuid(row.get("app_id")?),
        idp_id: IdpId::from_uuid(row.get("idp_id")?),
        user_id: UserId::from_uuid(row.get("user_id")?),
        return_url: row.get("return_url")?,
        sealed: sealed_from_row(row)?,
        expires_at: row.get("expires_at")?,
    })
}

/// The error of a failed insert of a flow or session: a missing IDP or user is `NotFound`,
/// a digest already stored `AlreadyExists`.
pub(crate) fn insert_error(what: &str, err: sqlx::Error) -> StoreError {
    if crate::common::is_unique_violation(&err) {
        StoreError::already_exists(format!("{what} with this digest"))
    } else {
        crate::common::not_found_if_fk(err, || {
            "identity provider or user of this sign-in".to_owned()
        })
    }
}

/// The context the OIDC client secret of `idp` is sealed for.
pub fn client_secret_seal_context(idp: IdpId) -> Vec<u8> {
    format!("alter:client_secret:{idp}").into_bytes()
}
