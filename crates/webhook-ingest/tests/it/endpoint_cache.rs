//! The endpoint cache: a warm endpoint is answered from memory (no database read, no
//! unsealing), every change made through config-api reaches it at once (an invalidation
//! through the outbox, and a fresh read when a secret does not match), and a change made
//! behind config-api's back lasts at most `endpoint_cache_secs`.

use std::time::Duration;

use alter_idp_sim::{LogStreamFormat, TenantKind};
use alter_proto::admin::v1 as pb;
use alter_testkit::eventually;
use serde_json::json;

use crate::support::{Harness, HookApp, target};

async fn send(h: &Harness, app: &HookApp, secret: &str, log_id: &str) -> Option<u16> {
    let report = h
        .sim
        .send_auth0_log_stream(
            &app.tenant,
            &target(&app.url, Some(&format!("Bearer {secret}"))),
            LogStreamFormat::Jsonarray,
            vec![json!({ "log_id": log_id, "type": "sdu", "user_id": format!("auth0|{log_id}") })],
        )
        .await
        .unwrap();
    report.attempts.last().and_then(|a| a.status)
}

#[tokio::test]
async fn a_warm_endpoint_is_answered_from_memory_and_a_change_behind_config_apis_back_lasts_at_most_the_cache_age()
 {
    let mut h = Harness::start_with(|c| c.webhook_ingest.endpoint_cache_secs = 1).await;
    let app = h.app("cache-age", TenantKind::Auth0, true).await;
    assert_eq!(send(&h, &app, &app.secret, "910001").await, Some(200));
    // Disabled in the database directly: no invalidation is sent.
    sqlx::query("DELETE FROM webhook_settings WHERE idp_id = $1")
        .bind(app.idp.as_uuid())
        .execute(h.env.db.pool())
        .await
        .unwrap();
    assert_eq!(
        send(&h, &app, &app.secret, "910002").await,
        Some(200),
        "the cached settings answered (the database no longer has any)"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        send(&h, &app, &app.secret, "910003").await,
        Some(404),
        "past endpoint_cache_secs the settings are read again"
    );
    h.finish().await;
}

#[tokio::test]
async fn r_hook_01_a_rotation_and_a_disable_through_config_api_reach_a_warm_endpoint_at_once() {
    let mut h = Harness::start().await; // the default cache age, 10 s
    let app = h.app("cache-changes", TenantKind::Auth0, true).await;
    assert_eq!(send(&h, &app, &app.secret, "920001").await, Some(200));
    let rotated = h
        .admin
        .rotate_webhook_secret(pb::RotateWebhookSecretRequest {
            app_id: app.app.to_string(),
            grace_period_secs: 60,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    assert_eq!(
        send(&h, &app, &rotated, "920002").await,
        Some(200),
        "the new secret works on the very next delivery"
    );
    assert_eq!(
        send(&h, &app, &app.secret, "920003").await,
        Some(200),
        "the previous one within its grace period"
    );
    assert_eq!(send(&h, &app, "not-the-secret", "920004").await, Some(401));
    h.admin
        .disable_webhooks(pb::DisableWebhooksRequest {
            app_id: app.app.to_string(),
        })
        .await
        .unwrap();
    // Well within the 10 s cache age: the invalidation did it.
    eventually(
        "the disable reaches webhook-ingest",
        Duration::from_secs(2),
        || async { (send(&h, &app, &rotated, "920005").await == Some(404)).then_some(()) },
    )
    .await;
    h.finish().await;
}
