//! Which IDP a webhook URL names, and the verifier for its currently valid secrets — cached,
//! so an accepted delivery costs no database read and no unsealing.
//!
//! Only enabled endpoints are cached. An entry is dropped when config-api says the app's
//! webhook settings or IDP changed (`Invalidation::Webhooks`, `IdpConfig`, `All`, published
//! through the outbox in the change's transaction), when the previous secret's grace period
//! ends, and after `endpoint_cache_secs` at the latest (invalidations travel on core NATS
//! and may be missed). While the invalidation subscription is down nothing is cached. A
//! delivery that fails authentication against a cached entry is checked once more against
//! the settings read afresh, so a rotation is honoured even before its invalidation lands.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use alter_bus::{Invalidation, InvalidationNotice};
use alter_core::IdpId;
use alter_providers::inbound::WebhookVerifier;
use alter_runtime::invalidations::InvalidationSink;
use alter_secrets::{Keyring, TokenHash};
use alter_store::{
    IdentityProvider, Store, StoredWebhookSecret, WebhookSettings, webhook_seal_context,
};
use chrono::{DateTime, Utc};

use crate::error::Refusal;

/// One endpoint as a delivery needs it.
pub(crate) struct Endpoint {
    pub idp: IdentityProvider,
    /// `None` when webhooks are not enabled for the IDP.
    pub settings: Option<WebhookSettings>,
    /// The verifier for `settings`' valid secrets, or why there is none (a stored secret that
    /// cannot be opened or used: the operator's to fix, so 503).
    pub verifier: Option<Result<WebhookVerifier, String>>,
    fresh_until: Instant,
    /// The previous secret's grace period ends here: the verifier must be rebuilt.
    secrets_until: Option<DateTime<Utc>>,
}

impl Endpoint {
    fn usable_at(&self, now: DateTime<Utc>, at: Instant) -> bool {
        at < self.fresh_until && self.secrets_until.is_none_or(|until| now < until)
    }
}

pub(crate) struct Endpoints {
    store: Arc<dyn Store>,
    keyring: Option<Keyring>,
    max_body_bytes: usize,
    ttl: Duration,
    live: AtomicBool,
    /// Bumped by every invalidation, so a read that raced one is not cached.
    generation: AtomicU64,
    entries: RwLock<HashMap<IdpId, Arc<Endpoint>>>,
}

impl Endpoints {
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Option<Keyring>,
        max_body_bytes: usize,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            keyring,
            max_body_bytes,
            ttl,
            live: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The endpoint a URL names (404 for an unknown or malformed IDP ID), and whether it came
    /// from the cache (a failed authentication is then worth a fresh read).
    pub async fn get(
        &self,
        raw_idp: &str,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Endpoint>, bool), Refusal> {
        let idp = IdpId::parse("idp_id", raw_idp).map_err(|_| Refusal::unknown_endpoint())?;
        if self.live.load(Ordering::Acquire) {
            let cached = self
                .entries
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&idp)
                .cloned();
            if let Some(entry) = cached
                && entry.usable_at(now, Instant::now())
            {
                return Ok((entry, true));
            }
        }
        Ok((self.read(idp, now).await?, false))
    }

    /// The endpoint read afresh from the database (and cached when enabled).
    pub async fn read(&self, idp: IdpId, now: DateTime<Utc>) -> Result<Arc<Endpoint>, Refusal> {
        let generation = self.generation.load(Ordering::Acquire);
        let (found, settings) = match self.store.find_webhook_endpoint(idp).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.forget(idp);
                return Err(Refusal::unknown_endpoint());
            }
            Err(error) => {
                tracing::warn!(%error, "webhook endpoint lookup failed");
                return Err(Refusal::unavailable("the database could not be reached"));
            }
        };
        let settings = settings.filter(|s| s.enabled);
        let verifier = settings.as_ref().map(|s| {
            self.verifier(&found, s, now)
                .map(|v| v.with_max_body_bytes(self.max_body_bytes))
        });
        let secrets_until = settings
            .as_ref()
            .and_then(|s| s.previous_valid_until)
            .filter(|until| now < *until);
        let cacheable = matches!(verifier, Some(Ok(_)));
        let entry = Arc::new(Endpoint {
            idp: found,
            settings,
            verifier,
            fresh_until: Instant::now() + self.ttl,
            secrets_until,
        });
        if !cacheable {
            self.forget(idp);
            return Ok(entry);
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // An invalidation that landed during the read may describe a later state than it.
        if self.live.load(Ordering::Acquire)
            && self.generation.load(Ordering::Acquire) == generation
        {
            entries.insert(idp, entry.clone());
        }
        drop(entries);
        Ok(entry)
    }

    fn forget(&self, idp: IdpId) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&idp);
    }

    fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The verifier for the IDP's currently valid secrets.
    fn verifier(
        &self,
        idp: &IdentityProvider,
        settings: &WebhookSettings,
        now: DateTime<Utc>,
    ) -> Result<WebhookVerifier, String> {
        let valid = settings.valid_secrets(now);
        let verifier = match valid.first() {
            Some(StoredWebhookSecret::Hash(_)) => {
                let hashes = valid
                    .iter()
                    .filter_map(|s| match s {
                        StoredWebhookSecret::Hash(bytes) => TokenHash::from_bytes(bytes),
                        StoredWebhookSecret::Sealed(_) => None,
                    })
                    .collect();
                WebhookVerifier::with_hashes(idp.kind, hashes)
            }
            _ => {
                let Some(keyring) = &self.keyring else {
                    return Err(format!(
                        "the webhook secret of identity provider {} is sealed and no master key is configured ({})",
                        idp.id,
                        alter_secrets::MASTER_KEY_CONFIG_KEY
                    ));
                };
                let context = webhook_seal_context(idp.id);
                let mut secrets = Vec::with_capacity(valid.len());
                for secret in valid {
                    if let StoredWebhookSecret::Sealed(sealed) = secret {
                        let opened = sealed.open_string(keyring, &context).map_err(|e| {
                            format!(
                                "the webhook secret of identity provider {} cannot be opened with the configured keys: {e}",
                                idp.id
                            )
                        })?;
                        secrets.push(opened);
                    }
                }
                WebhookVerifier::new(idp.kind, &secrets)
            }
        };
        verifier.map_err(|e| {
            format!(
                "the stored webhook secret of identity provider {} is unusable: {e}",
                idp.id
            )
        })
    }
}

impl InvalidationSink for Endpoints {
    fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        self.clear();
    }

    fn invalidate(&self, notice: &InvalidationNotice) {
        match notice.invalidation {
            Invalidation::User { .. } | Invalidation::AppGrants => {}
            Invalidation::Webhooks | Invalidation::IdpConfig | Invalidation::All => {
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.entries
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .retain(|_, entry| entry.idp.app_id != notice.app_id);
            }
        }
    }

    fn invalidate_everything(&self) {
        self.clear();
    }
}
