//! Receives the identity providers' webhooks, authenticates and parses them, and answers 2xx
//! only once their lifecycle events are durably on JetStream (R-HOOK-02..08).
//!
//! Routes: `POST /v1/webhooks/{idp_id}` (deliveries) and `GET /v1/webhooks/{idp_id}` (Okta's
//! verification challenge). Any other path is 404 and any other method 405, each with a JSON
//! body saying what is expected: nothing is ever acknowledged that was not taken.

mod config;
mod delivery_log;
mod endpoints;
mod error;
mod ingest;
mod metrics;

pub use config::{Config, Settings};
pub use error::{Error, Refusal};
pub use ingest::{Accepted, Ingest};

use std::sync::Arc;

use alter_runtime::{Deps, Service, ServiceHost};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// The running service: listeners bound, dependencies connected.
pub struct Application {
    host: ServiceHost,
    ingest: Arc<Ingest>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects its own PostgreSQL pool and NATS connection, then builds.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let deps = Deps::connect(Self::NAME, &config.common).await?;
        Self::build_with(config, deps).await
    }

    /// Binds its listeners over the given adapters (shared with other services of the process).
    pub async fn build_with(config: Config, deps: Deps) -> Result<Self, Error> {
        let host = ServiceHost::bind(
            Self::NAME,
            "webhook_ingest",
            &config.webhook_ingest.listen(),
        )
        .await?;
        deps.register(&host);
        let settings = &config.webhook_ingest;
        let endpoints = Arc::new(endpoints::Endpoints::new(
            deps.store.clone(),
            config.common.secrets.keyring(),
            settings.max_body_bytes,
            std::time::Duration::from_secs(settings.endpoint_cache_secs),
        ));
        alter_runtime::invalidations::spawn_follower(
            endpoints.clone(),
            deps.bus.clone(),
            host.shutdown_token(),
        )
        .await;
        let ingest = Arc::new(Ingest {
            endpoints,
            log: delivery_log::DeliveryLog::spawn(deps.store),
            bus: deps.bus,
            max_body_bytes: settings.max_body_bytes,
            metrics: metrics::Metrics::new(),
        });
        Ok(Self { host, ingest })
    }

    /// The HTTP routes, for in-process use (benchmarks) or behind the host.
    pub fn router(ingest: Arc<Ingest>) -> axum::Router {
        // One byte over the limit is enough to tell a body that is too large.
        let limit = ingest.max_body_bytes.saturating_add(1);
        axum::Router::new()
            .route(
                "/v1/webhooks/{idp_id}",
                post(receive).get(verify_okta).fallback(method_not_allowed),
            )
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(limit))
            .with_state(ingest)
    }

    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let router = Self::router(self.ingest);
        self.host.serve_http(router).await?;
        Ok(())
    }
}

async fn receive(
    State(ingest): State<Arc<Ingest>>,
    Path(idp_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is over the limit of {} bytes: send smaller batches",
                    ingest.max_body_bytes
                ),
            )
            .into_response();
        }
        Err(rejection) => {
            return Refusal::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                rejection.body_text(),
            )
            .into_response();
        }
    };
    use tracing::Instrument as _;
    // The root of the delivery's trace: its lifecycle events are published in it, and the
    // revoker and the audit writer continue it.
    let span = tracing::info_span!(
        "webhook.receive",
        idp_id = %idp_id,
        bytes = body.len(),
        status = tracing::field::Empty,
    );
    let answer = ingest
        .receive(&idp_id, &headers, &body)
        .instrument(span.clone())
        .await;
    match answer {
        Ok(accepted) => {
            span.record("status", 200);
            (StatusCode::OK, Json(accepted)).into_response()
        }
        Err(refusal) => {
            span.record("status", refusal.status.as_u16());
            refusal.into_response()
        }
    }
}

async fn verify_okta(
    State(ingest): State<Arc<Ingest>>,
    Path(idp_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match ingest.verify_okta(&idp_id, &headers).await {
        Ok(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn method_not_allowed() -> Response {
    let refusal = Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "webhook endpoints take POST (deliveries) and GET (Okta's verification) only",
    );
    let mut response = refusal.into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
    response
}

async fn not_found() -> Response {
    Refusal::unknown_endpoint().into_response()
}

alter_runtime::impl_service!(Application, Config, "webhook-ingest");
