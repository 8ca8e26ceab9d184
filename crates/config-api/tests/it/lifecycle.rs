//! Start-up, health and graceful shutdown.

use alter_config_api::{Application, Config};
use alter_testkit::{TestEnv, assert_serves_health, spawn};

#[tokio::test]
async fn serves_health_readiness_metrics_and_grpc_health_then_stops_gracefully() {
    let env = TestEnv::new().await;
    let app = spawn::<Application>(Config::for_tests(env.common())).await;
    assert_serves_health(&app, "config-api").await;
    let admin = app.admin_url();
    app.stop().await.expect("stops cleanly when cancelled");
    assert!(
        reqwest::get(format!("{admin}/healthz")).await.is_err(),
        "admin port closed after stop"
    );
    env.cleanup().await;
}
