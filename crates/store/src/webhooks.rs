//! Webhook settings per identity provider (R-HOOK-01) and the delivery log (R-HOOK-08).
//!
//! The store keeps secrets only as hashes or as ciphertext sealed by `alter-secrets`; it
//! never sees a plaintext secret.

use alter_core::{AppId, EventId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::common::{StoredRow, missing_on_foreign_key};
use crate::error::{StoreError, StoreResult};
use crate::idps::{IdentityProvider, IdpStore};
use crate::outbox::Effects;
use crate::secrets::SealedSecret;

/// The additional authenticated data a sealed webhook secret is bound to: it opens only as
/// this IDP's webhook secret (config-api seals with it, webhook-ingest opens with it).
pub fn webhook_seal_context(idp: IdpId) -> Vec<u8> {
    format!("alter:webhook_secret:{idp}").into_bytes()
}

/// A webhook secret at rest.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredWebhookSecret {
    /// SHA-256 of a secret we generated (Auth0, custom OIDC): compared, never recovered.
    Hash(Vec<u8>),
    /// A secret whose value the check needs (Clerk's Svix key, Okta's `Authorization`).
    Sealed(SealedSecret),
}

impl StoredWebhookSecret {
    /// The `secret_form` column: `hash` or `sealed`.
    pub(crate) fn form(&self) -> &'static str {
        match self {
            StoredWebhookSecret::Hash(_) => "hash",
            StoredWebhookSecret::Sealed(_) => "sealed",
        }
    }

    /// The secret's columns: (secret, nonce, key ID).
    pub(crate) fn columns(&self) -> (&[u8], Option<&[u8]>, Option<&str>) {
        match self {
            StoredWebhookSecret::Hash(hash) => (hash.as_slice(), None, None),
            StoredWebhookSecret::Sealed(s) => (
                s.ciphertext.as_slice(),
                Some(s.nonce.as_slice()),
                Some(s.key_id.as_str()),
            ),
        }
    }

    /// The `previous_*` columns of a rotation (all `NULL` without a previous secret).
    pub(crate) fn previous_columns(
        previous: Option<(&Self, DateTime<Utc>)>,
    ) -> (Option<&[u8]>, Option<&[u8]>, Option<&str>) {
        previous.map_or((None, None, None), |(p, _)| {
            let (secret, nonce, key_id) = p.columns();
            (Some(secret), nonce, key_id)
        })
    }

    /// The secret stored in `form` as these columns.
    fn from_columns(
        form: &str,
        secret: Vec<u8>,
        nonce: Option<Vec<u8>>,
        key_id: Option<String>,
    ) -> StoreResult<Self> {
        match (form, nonce, key_id) {
            ("hash", _, _) => Ok(StoredWebhookSecret::Hash(secret)),
            ("sealed", Some(nonce), Some(key_id)) => {
                Ok(StoredWebhookSecret::Sealed(SealedSecret {
                    ciphertext: secret,
                    nonce,
                    key_id,
                }))
            }
            _ => Err(StoreError::corrupt(
                "webhook secret",
                format!("form {form:?} without its nonce and key ID"),
            )),
        }
    }
}

impl std::fmt::Debug for StoredWebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoredWebhookSecret::Hash(_) => f.write_str("Hash([redacted])"),
            StoredWebhookSecret::Sealed(s) => f.debug_tuple("Sealed").field(s).finish(),
        }
    }
}

/// The webhook settings of one IDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    pub app_id: AppId,
    pub idp_id: IdpId,
    pub enabled: bool,
    pub current: StoredWebhookSecret,
    /// The secret before the last rotation, valid until `previous_valid_until`.
    pub previous: Option<StoredWebhookSecret>,
    pub previous_valid_until: Option<DateTime<Utc>>,
    pub enabled_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl WebhookSettings {
    /// The secrets a delivery received at `now` may be checked against: the current one and,
    /// within its grace period, the previous one.
    pub fn valid_secrets(&self, now: DateTime<Utc>) -> Vec<&StoredWebhookSecret> {
        let mut out = vec![&self.current];
        if let (Some(previous), Some(until)) = (&self.previous, self.previous_valid_until)
            && now < until
        {
            out.push(previous);
        }
        out
    }
}

/// What became of one event of a delivery (or of a delivery refused as a whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    /// Durably accepted for processing.
    Accepted,
    /// Authentic, but an event type we do not act on.
    Ignored,
    /// Authentic, already accepted before (a redelivery).
    Duplicate,
    /// Authentic, but a record that can never be parsed (kept, with its reason).
    Rejected,
    /// Refused: missing or wrong signature / secret, stale timestamp.
    Unauthorized,
    /// Refused: the body is not in the provider's format.
    Malformed,
}

impl DeliveryOutcome {
    pub const ALL: [DeliveryOutcome; 6] = [
        DeliveryOutcome::Accepted,
        DeliveryOutcome::Ignored,
        DeliveryOutcome::Duplicate,
        DeliveryOutcome::Rejected,
        DeliveryOutcome::Unauthorized,
        DeliveryOutcome::Malformed,
    ];

    /// The outcome stored as `value`.
    pub(crate) fn parse_stored(value: &str) -> StoreResult<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == value)
            .ok_or_else(|| StoreError::corrupt("delivery outcome", format!("{value:?}")))
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Accepted => "accepted",
            DeliveryOutcome::Ignored => "ignored",
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Rejected => "rejected",
            DeliveryOutcome::Unauthorized => "unauthorized",
            DeliveryOutcome::Malformed => "malformed",
        }
    }
}

/// One row of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub received_at: DateTime<Utc>,
    pub provider_event_id: Option<String>,
    pub event_type: Option<String>,
    /// Our lifecycle event's ID, for accepted events (the audit trail has what it changed).
    pub event_id: Option<EventId>,
    pub outcome: DeliveryOutcome,
    /// Why it was ignored, rejected or refused.
    pub reason: Option<String>,
}

/// A logged delivery with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedDelivery {
    pub seq: i64,
    pub idp_id: IdpId,
    pub record: DeliveryRecord,
}

/// Persistence of webhook settings and deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Enables webhooks with `current` (or replaces it, keeping `previous` valid until
    /// `previous_valid_until`: a rotation), with its side effects. `NotFound` when the IDP is
    /// not in the app.
    async fn put_webhook_settings_with(
        &self,
        app: AppId,
        idp: IdpId,
        current: &StoredWebhookSecret,
        previous: Option<(&StoredWebhookSecret, DateTime<Utc>)>,
        effects: Effects<'_, WebhookSettings>,
    ) -> StoreResult<WebhookSettings>;
    /// Disables webhooks (the secrets are forgotten). `false` when they were not enabled.
    async fn disable_webhooks_with(
        &self,
        app: AppId,
        idp: IdpId,
        effects: Effects<'_, ()>,
    ) -> StoreResult<bool>;
    /// The app's IDP's webhook settings, if enabled.
    async fn get_webhook_settings(
        &self,
        app: AppId,
        idp: IdpId,
    ) -> StoreResult<Option<WebhookSettings>>;
    /// The IDP and its webhook settings by IDP ID alone: what a webhook URL carries.
    async fn find_webhook_endpoint(
        &self,
        idp: IdpId,
    ) -> StoreResult<Option<(IdentityProvider, Option<WebhookSettings>)>>;
    /// Appends records, each of its app's IDP, to the delivery log in one statement.
    async fn record_deliveries(
        &self,
        records: &[(AppId, IdpId, DeliveryRecord)],
    ) -> StoreResult<()>;
    /// The latest deliveries of the app, newest first, `limit` at a time, before `before_seq`.
    async fn list_deliveries(
        &self,
        app: AppId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LoggedDelivery>>;
}

/// Refuses a rotation that would change the secret's form: both secrets are checked the same
/// way, and the row stores one form for both.
pub(crate) fn check_rotation(
    current: &StoredWebhookSecret,
    previous: Option<(&StoredWebhookSecret, DateTime<Utc>)>,
) -> StoreResult<()> {
    match previous {
        Some((previous, _)) if previous.form() != current.form() => Err(StoreError::conflict(
            "a rotation keeps the secret's form (hashed or sealed); disable and enable webhooks to change it",
        )),
        _ => Ok(()),
    }
}

/// The columns [`settings_from_row`] reads.
#[macro_export]
#[doc(hidden)]
macro_rules! webhook_settings_columns {
    () => {
        "app_id, idp_id, enabled, secret_form, current_secret, current_nonce, current_key_id, \
         previous_secret, previous_nonce, previous_key_id, previous_valid_until, enabled_at, rotated_at"
    };
}

/// A `webhook_settings` row of either adapter
/// ([`webhook_settings_columns!`](crate::webhook_settings_columns)).
pub(crate) fn settings_from_row(row: &impl StoredRow) -> StoreResult<WebhookSettings> {
    let form: String = row.get("secret_form")?;
    let current = StoredWebhookSecret::from_columns(
        &form,
        row.get("current_secret")?,
        row.get("current_nonce")?,
        row.get("current_key_id")?,
    )?;
    let previous = match row.get::<Option<Vec<u8>>>("previous_secret")? {
        Some(secret) => Some(StoredWebhookSecret::from_columns(
            &form,
            secret,
            row.get("previous_nonce")?,
            row.get("previous_key_id")?,
        )?),
        None => None,
    };
    Ok(WebhookSettings {
        app_id: AppId::from_uuid(row.get("app_id")?),
        idp_id: IdpId::from_uuid(row.get("idp_id")?),
        enabled: row.get("enabled")?,
        current,
        previous,
        previous_valid_until: row.get("previous_valid_until")?,
        enabled_at: row.get("enabled_at")?,
        rotated_at: row.get("rotated_at")?,
    })
}

/// The settings an enable or a rotation wrote (`RETURNING` them), or `NotFound` when the
/// IDP is not the app's: no row (the IDP's settings belong to another app) or a foreign-key
/// violation (no such IDP in the app).
pub(crate) fn written_settings<R: StoredRow>(
    result: Result<Option<R>, sqlx::Error>,
    idp: IdpId,
) -> StoreResult<WebhookSettings> {
    let not_found = || format!("identity provider {idp}");
    match result.map_err(missing_on_foreign_key(not_found))? {
        Some(row) => settings_from_row(&row),
        None => Err(StoreError::not_found(not_found())),
    }
}

/// A `webhook_deliveries` row of either adapter (seq, idp_id and the record's columns).
pub(crate) fn delivery_from_row(row: &impl StoredRow) -> StoreResult<LoggedDelivery> {
    let outcome: String = row.get("outcome")?;
    Ok(LoggedDelivery {
        seq: row.get("seq")?,
        idp_id: IdpId::from_uuid(row.get("idp_id")?),
        record: DeliveryRecord {
            received_at: row.get("received_at")?,
            provider_event_id: row.get("provider_event_id")?,
            event_type: row.get("event_type")?,
            event_id: row.get::<Option<Uuid>>("event_id")?.map(EventId::from_uuid),
            outcome: DeliveryOutcome::parse_stored(&outcome)?,
            reason: row.get("reason")?,
        },
    })
}

/// [`WebhookStore::find_webhook_endpoint`] for any store: the IDP by its ID alone, then its
/// app's settings.
pub(crate) async fn find_endpoint<S: IdpStore + WebhookStore + ?Sized>(
    store: &S,
    idp: IdpId,
) -> StoreResult<Option<(IdentityProvider, Option<WebhookSettings>)>> {
    let Some(found) = store.find_idp_by_id(idp).await? else {
        return Ok(None);
    };
    let settings = store.get_webhook_settings(found.app_id, idp).await?;
    Ok(Some((found, settings)))
}
