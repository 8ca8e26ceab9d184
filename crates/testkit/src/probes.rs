//! What every service must answer, checked the way Kubernetes and an operator would.

#![allow(clippy::panic, clippy::expect_used, reason = "test assertions")]

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::Spawned;

/// Asserts `/healthz` and `/readyz` answer 200 with JSON naming `service`, `/metrics` serves
/// Prometheus text, and the main port answers the gRPC health check with SERVING.
pub async fn assert_serves_health(spawned: &Spawned, service: &str) {
    let http = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let resp = http
            .get(format!("{}{path}", spawned.admin_url()))
            .send()
            .await
            .expect("admin port answers");
        assert_eq!(resp.status(), 200, "{service} {path}");
        let body: serde_json::Value = resp.json().await.expect("JSON body");
        assert_eq!(
            body["service"], service,
            "{service} {path} names the service: {body}"
        );
    }
    let metrics = http
        .get(format!("{}/metrics", spawned.admin_url()))
        .send()
        .await
        .expect("metrics answers");
    assert_eq!(metrics.status(), 200);
    let content_type = metrics
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain"),
        "{service} /metrics content type {content_type}"
    );

    assert_eq!(
        grpc_health(spawned, "").await,
        Some(ServingStatus::Serving),
        "{service} gRPC health"
    );
}

/// The gRPC health status of `service_name` ("" = the whole server), or None when the server
/// does not know the name.
pub async fn grpc_health(spawned: &Spawned, service_name: &str) -> Option<ServingStatus> {
    let channel = tonic::transport::Endpoint::from_shared(spawned.url())
        .expect("valid endpoint")
        .connect()
        .await
        .expect("gRPC connects");
    let mut client = HealthClient::new(channel);
    match client
        .check(HealthCheckRequest {
            service: service_name.to_owned(),
        })
        .await
    {
        Ok(resp) => ServingStatus::try_from(resp.into_inner().status).ok(),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("gRPC health check failed: {status}"),
    }
}
