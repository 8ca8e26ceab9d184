//! Webhook settings per identity provider (R-HOOK-01) and the delivery log (R-HOOK-08).
//!
//! The store keeps secrets only as hashes or as ciphertext sealed by `alter-secrets`; it
//! never sees a plaintext secret.

use alter_core::{AppId, EventId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;
use crate::idps::IdentityProvider;
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
