//! One delivery, from the request to the answer: find the endpoint's IDP and webhook settings,
//! authenticate and parse with the provider's rules (`alter_providers::inbound`), publish the
//! lifecycle events to JetStream and wait for every ack, log the delivery, and only then
//! answer 2xx (R-HOOK-06). Anything that fails before that is a 5xx, so the provider retries;
//! bad input is a 4xx that changes nothing (R-HOOK-07).

use std::sync::Arc;

use alter_bus::EventBus;
use alter_core::{IdpId, IdpKind};
use alter_providers::inbound::{InboundRequest, ParsedDelivery, WebhookVerifier};
use alter_secrets::{Keyring, SecretString, TokenHash};
use alter_store::{
    DeliveryOutcome, DeliveryRecord, IdentityProvider, Store, StoredWebhookSecret, WebhookSettings,
    webhook_seal_context,
};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Refusal;
use crate::metrics::Metrics;

/// What every request needs.
pub struct Ingest {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    pub keyring: Option<Keyring>,
    pub max_body_bytes: usize,
    pub metrics: Metrics,
}

/// The answer to an accepted delivery.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Accepted {
    pub accepted: usize,
    pub duplicates: usize,
    pub ignored: usize,
    pub rejected: usize,
}

impl Ingest {
    /// The IDP behind an endpoint, which must exist (404 otherwise).
    async fn endpoint(
        &self,
        raw_idp: &str,
    ) -> Result<(IdentityProvider, Option<WebhookSettings>), Refusal> {
        let idp = IdpId::parse("idp_id", raw_idp).map_err(|_| Refusal::unknown_endpoint())?;
        match self.store.find_webhook_endpoint(idp).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(Refusal::unknown_endpoint()),
            Err(error) => {
                tracing::warn!(%error, "webhook endpoint lookup failed");
                Err(Refusal::unavailable("the database could not be reached"))
            }
        }
    }

    /// `POST /v1/webhooks/{idp_id}`.
    pub async fn receive(
        &self,
        raw_idp: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Accepted, Refusal> {
        let received_at = Utc::now();
        let (idp, settings) = self.endpoint(raw_idp).await?;
        let provider = idp.kind.as_str();
        let Some(settings) = settings.filter(|s| s.enabled) else {
            self.metrics.refused(provider, "not_enabled");
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                "webhooks_not_enabled",
                "webhooks are not enabled for this identity provider: enable them with `alter webhooks enable`",
            ));
        };
        if body.len() > self.max_body_bytes {
            self.metrics.refused(provider, "body_too_large");
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is {} bytes, over the limit of {} bytes: send smaller batches",
                    body.len(),
                    self.max_body_bytes
                ),
            ));
        }
        check_content_type(headers)
            .inspect_err(|_| self.metrics.refused(provider, "content_type"))?;
        let verifier = self.verifier(&idp, &settings, received_at)?;
        let request = InboundRequest::new(headers, body, received_at);
        let delivery = verifier.receive(&request).map_err(|error| {
            self.metrics.refused(provider, error.code());
            tracing::info!(idp = %idp.id, provider, code = error.code(), %error, "webhook delivery refused");
            Refusal::new(error.status(), error.code(), error.to_string())
        })?;
        self.accept(&idp, &delivery, received_at).await
    }

    /// The verifier for the IDP's currently valid secrets.
    fn verifier(
        &self,
        idp: &IdentityProvider,
        settings: &WebhookSettings,
        now: DateTime<Utc>,
    ) -> Result<WebhookVerifier, Refusal> {
        let valid = settings.valid_secrets(now);
        let misconfigured = |what: String| {
            tracing::error!(idp = %idp.id, "{what}");
            Refusal::unavailable(&what)
        };
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
                    return Err(misconfigured(format!(
                        "the webhook secret of identity provider {} is sealed and no master key is configured ({})",
                        idp.id,
                        alter_secrets::MASTER_KEY_CONFIG_KEY
                    )));
                };
                let context = webhook_seal_context(idp.id);
                let mut secrets = Vec::with_capacity(valid.len());
                for secret in valid {
                    if let StoredWebhookSecret::Sealed(sealed) = secret {
                        let opened = unseal(keyring, sealed, &context).map_err(|e| {
                            misconfigured(format!(
                                "the webhook secret of identity provider {} cannot be opened with the configured keys: {e}",
                                idp.id
                            ))
                        })?;
                        secrets.push(opened);
                    }
                }
                WebhookVerifier::new(idp.kind, &secrets)
            }
        }
        .map_err(|e| {
            misconfigured(format!(
                "the stored webhook secret of identity provider {} is unusable: {e}",
                idp.id
            ))
        })?;
        Ok(verifier.with_max_body_bytes(self.max_body_bytes))
    }

    /// Publishes the delivery's events (every ack awaited), logs the delivery, and answers.
    async fn accept(
        &self,
        idp: &IdentityProvider,
        delivery: &ParsedDelivery,
        received_at: DateTime<Utc>,
    ) -> Result<Accepted, Refusal> {
        let provider = idp.kind.as_str();
        let events = delivery.lifecycle_events(idp.app_id);
        let receipts = if events.is_empty() {
            Vec::new()
        } else {
            self.bus
                .publish_lifecycle_batch(&events)
                .await
                .map_err(|error| {
                    self.metrics.refused(provider, "bus_unavailable");
                    tracing::warn!(%error, idp = %idp.id, "lifecycle events could not be published");
                    Refusal::unavailable("the event stream could not store the events")
                })?
        };
        let mut records = Vec::with_capacity(delivery.record_count());
        let mut duplicates = 0;
        for ((event, lifecycle), receipt) in delivery.events.iter().zip(&events).zip(&receipts) {
            let outcome = if receipt.duplicate {
                duplicates += 1;
                DeliveryOutcome::Duplicate
            } else {
                DeliveryOutcome::Accepted
            };
            self.metrics.event(provider, &event.event_type, outcome);
            records.push(DeliveryRecord {
                received_at,
                provider_event_id: Some(event.provider_event_id.clone()),
                event_type: Some(event.event_type.clone()),
                event_id: Some(lifecycle.event_id),
                outcome,
                reason: None,
            });
        }
        for ignored in &delivery.ignored {
            self.metrics
                .event(provider, &ignored.event_type, DeliveryOutcome::Ignored);
            records.push(DeliveryRecord {
                received_at,
                provider_event_id: ignored.provider_event_id.clone(),
                event_type: Some(ignored.event_type.clone()),
                event_id: None,
                outcome: DeliveryOutcome::Ignored,
                reason: Some(format!("{:?}", ignored.reason)),
            });
        }
        for rejected in &delivery.rejected {
            self.metrics.event(
                provider,
                rejected.event_type.as_deref().unwrap_or("unknown"),
                DeliveryOutcome::Rejected,
            );
            tracing::warn!(idp = %idp.id, provider, record = %rejected, "authentic webhook record rejected");
            records.push(DeliveryRecord {
                received_at,
                provider_event_id: rejected.provider_event_id.clone(),
                event_type: rejected.event_type.clone(),
                event_id: None,
                outcome: DeliveryOutcome::Rejected,
                reason: Some(rejected.error.to_string()),
            });
        }
        if let Err(error) = self
            .store
            .record_deliveries(idp.app_id, idp.id, &records)
            .await
        {
            // A rejected record lives only in the log: without it, it would be lost silently,
            // so the provider must retry (the events themselves are deduplicated).
            if !delivery.rejected.is_empty() {
                tracing::warn!(%error, idp = %idp.id, "delivery log unavailable; asking for a retry");
                return Err(Refusal::unavailable(
                    "the delivery log could not be written",
                ));
            }
            self.metrics.log_failures.increment(1);
            tracing::warn!(%error, idp = %idp.id, "delivery accepted but not logged");
        }
        Ok(Accepted {
            accepted: events.len() - duplicates,
            duplicates,
            ignored: delivery.ignored.len(),
            rejected: delivery.rejected.len(),
        })
    }

    /// `GET /v1/webhooks/{idp_id}`: Okta's one-time verification (R-HOOK-04), answered even
    /// before webhooks are enabled here, without `Authorization`.
    pub async fn verify_okta(&self, raw_idp: &str, headers: &HeaderMap) -> Result<String, Refusal> {
        let (idp, _) = self.endpoint(raw_idp).await?;
        if idp.kind != IdpKind::Okta {
            return Err(Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!(
                    "only Okta verifies an endpoint with GET; {} delivers with POST",
                    idp.kind
                ),
            ));
        }
        use alter_providers::inbound::okta;
        let challenge = match okta::verification_challenge(headers) {
            Ok(Some(challenge)) => challenge,
            Ok(None) => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "missing_challenge",
                    "the X-Okta-Verification-Challenge header is missing: Okta sends it when you verify the event hook",
                ));
            }
            Err(e) => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "bad_challenge",
                    e.to_string(),
                ));
            }
        };
        okta::okta_challenge_response(challenge)
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "bad_challenge", e.to_string()))
    }
}

fn unseal(
    keyring: &Keyring,
    sealed: &alter_store::SealedSecret,
    context: &[u8],
) -> Result<SecretString, String> {
    let key_id = sealed.key_id.parse().map_err(|e| format!("{e}"))?;
    let nonce: [u8; 12] = sealed
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| "the stored nonce is not 12 bytes".to_owned())?;
    let parts = alter_secrets::Sealed {
        key_id,
        nonce,
        ciphertext: sealed.ciphertext.clone(),
    };
    keyring
        .unseal_string(&parts, context)
        .map_err(|e| e.to_string())
}

/// R-HOOK-07: deliveries are JSON (an array, one object, or JSON lines).
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json"
        | "application/x-ndjson"
        | "application/jsonl"
        | "application/json-lines" => Ok(()),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type",
            format!(
                "the content type is {value:?}; webhook deliveries are JSON: send Content-Type: application/json (or application/x-ndjson for JSON lines)"
            ),
        )),
    }
}
