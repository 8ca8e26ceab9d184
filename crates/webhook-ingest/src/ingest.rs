//! One delivery, from the request to the answer: find the endpoint's IDP and webhook settings,
//! authenticate and parse with the provider's rules (`alter_providers::inbound`), publish the
//! lifecycle events to JetStream and wait for every ack, log the delivery, and only then
//! answer 2xx (R-HOOK-06). Anything that fails before that is a 5xx, so the provider retries;
//! bad input is a 4xx that changes nothing (R-HOOK-07).

use std::sync::Arc;

use alter_bus::EventBus;
use alter_core::IdpKind;
use alter_providers::inbound::{InboundError, InboundRequest, ParsedDelivery};
use alter_store::{DeliveryOutcome, DeliveryRecord, IdentityProvider};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::delivery_log::DeliveryLog;
use crate::endpoints::Endpoints;
use crate::error::Refusal;
use crate::metrics::Metrics;

/// What every request needs.
pub struct Ingest {
    pub(crate) endpoints: Arc<Endpoints>,
    pub(crate) log: DeliveryLog,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) max_body_bytes: usize,
    pub(crate) metrics: Metrics,
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
    /// `POST /v1/webhooks/{idp_id}`.
    pub async fn receive(
        &self,
        raw_idp: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Accepted, Refusal> {
        let received_at = Utc::now();
        let (mut endpoint, mut cached) = self.endpoints.get(raw_idp, received_at).await?;
        let provider = endpoint.idp.kind.as_str();
        let request = InboundRequest::new(headers, body, received_at);
        let delivery = loop {
            let verifier = match &endpoint.verifier {
                None => {
                    self.metrics.refused(provider, "not_enabled");
                    return Err(Refusal::new(
                        StatusCode::NOT_FOUND,
                        "webhooks_not_enabled",
                        "webhooks are not enabled for this identity provider: enable them with `alter webhooks enable`",
                    ));
                }
                Some(Err(what)) => {
                    tracing::error!(idp = %endpoint.idp.id, "{what}");
                    return Err(Refusal::unavailable(what));
                }
                Some(Ok(verifier)) => verifier,
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
            match verifier.receive(&request) {
                Ok(delivery) => break delivery,
                Err(error) => {
                    // The cached secrets may predate a rotation whose invalidation is on its
                    // way: one fresh read decides.
                    if cached && matches!(error, InboundError::Unauthenticated(_)) {
                        let fresh = self.endpoints.read(endpoint.idp.id, received_at).await?;
                        cached = false;
                        if fresh.settings != endpoint.settings {
                            endpoint = fresh;
                            continue;
                        }
                    }
                    self.metrics.refused(provider, error.code());
                    tracing::info!(idp = %endpoint.idp.id, provider, code = error.code(), %error, "webhook delivery refused");
                    return Err(Refusal::new(
                        error.status(),
                        error.code(),
                        error.to_string(),
                    ));
                }
            }
        };
        self.accept(&endpoint.idp, &delivery, received_at).await
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
        if let Err(error) = self.log.record(idp.app_id, idp.id, records).await {
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
        let (endpoint, _) = self.endpoints.get(raw_idp, Utc::now()).await?;
        let idp = &endpoint.idp;
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
