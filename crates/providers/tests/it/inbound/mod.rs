//! Inbound webhooks, fed with real deliveries: idp-sim's senders POST to a local receiver
//! that keeps each request's headers and raw body, and the tests run them through the
//! verifiers and parsers exactly as webhook-ingest will.

mod auth0;
mod clerk;
mod custom;
mod okta;
mod redelivery;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use alter_core::{AppId, IdpKind};
use alter_idp_sim::WebhookTarget;
use alter_providers::inbound::okta::{okta_challenge_response, verification_challenge};
use alter_providers::{InboundError, InboundRequest, ParsedDelivery, WebhookVerifier};
use alter_secrets::SecretString;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

impl Delivery {
    pub fn request(&self) -> InboundRequest<'_> {
        InboundRequest::new(&self.headers, &self.body, self.received_at)
    }

    /// The same delivery with another body (an authentic Auth0 or Okta delivery altered in
    /// transit, or a Clerk one whose signature no longer fits).
    pub fn with_body(&self, body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            ..self.clone()
        }
    }

    /// The same delivery with `name` set to `value` (or removed when `None`).
    pub fn with_header(&self, name: &'static str, value: Option<&str>) -> Self {
        let mut copy = self.clone();
        match value {
            Some(v) => {
                copy.headers.insert(name, v.parse().unwrap());
            }
            None => {
                copy.headers.remove(name);
            }
        }
        copy
    }
}

/// A local HTTP endpoint standing in for webhook-ingest: it records every POST, answers the
/// Okta verification GET through `okta_challenge_response`, and fails the first
/// `fail_first` POSTs with 500 so the senders retry.
pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::failing_first(0).await
    }

    pub async fn failing_first(fail_first: usize) -> Self {
        let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let posts = Arc::new(AtomicUsize::new(0));
        let recorded = seen.clone();
        let app = Router::new().fallback(move |method: Method, headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            let posts = posts.clone();
            async move {
                if method == Method::GET {
                    return match verification_challenge(&headers) {
                        Ok(Some(challenge)) => match okta_challenge_response(challenge) {
                            Ok(body) => (StatusCode::OK, body),
                            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                        },
                        Ok(None) => (StatusCode::NOT_FOUND, String::new()),
                        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                    };
                }
                recorded.lock().unwrap().push(Delivery {
                    method,
                    headers,
                    body: body.to_vec(),
                    received_at: Utc::now(),
                });
                if posts.fetch_add(1, Ordering::SeqCst) < fail_first {
                    (StatusCode::INTERNAL_SERVER_ERROR, String::new())
                } else {
                    (StatusCode::NO_CONTENT, String::new())
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/webhooks/idp", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, seen }
    }

    /// A sender target for this receiver, retrying after 1 ms.
    pub fn target(&self, authorization: Option<&str>) -> WebhookTarget {
        WebhookTarget {
            url: self.url.clone(),
            authorization: authorization.map(str::to_owned),
            retry_delays_ms: Some(vec![1, 1]),
            ..WebhookTarget::default()
        }
    }

    /// Everything received so far, emptying the record.
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// The one delivery received so far.
    pub fn single(&self) -> Delivery {
        let mut all = self.take();
        assert_eq!(all.len(), 1, "expected exactly one delivery");
        all.remove(0)
    }
}

/// A verifier for `kind` accepting `secrets`.
pub fn verifier(kind: IdpKind, secrets: &[&str]) -> WebhookVerifier {
    let secrets: Vec<SecretString> = secrets.iter().map(|s| SecretString::new(*s)).collect();
    WebhookVerifier::new(kind, &secrets).unwrap()
}

/// Authenticates and parses, expecting success.
pub fn receive(verifier: &WebhookVerifier, delivery: &Delivery) -> ParsedDelivery {
    assert_eq!(delivery.method, Method::POST, "deliveries are POSTs");
    verifier
        .receive(&delivery.request())
        .unwrap_or_else(|e| panic!("delivery refused: {e}"))
}

/// Authenticates and parses, expecting a refusal; returns its code after checking that the
/// message never carries any of `secrets`.
pub fn refusal(verifier: &WebhookVerifier, delivery: &Delivery, secrets: &[&str]) -> InboundError {
    let err = verifier
        .receive(&delivery.request())
        .expect_err("delivery should be refused");
    let text = err.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "secret leaked in {text}");
    }
    err
}

pub fn app() -> AppId {
    AppId::new()
}
