//! Start-up, health and graceful shutdown.

use alter_webhook_ingest::{Application, Config};

#[tokio::test]
async fn serves_health_readiness_metrics_and_grpc_health_then_stops_gracefully() {
    alter_testkit::check_service_lifecycle::<Application>(Config::for_tests).await;
}
