//! Redeliveries (R-HOOK-06): the simulator's senders retry a failed delivery, and every
//! attempt must give the same lifecycle event IDs, so the bus and the consumers drop the
//! repeats; another app's identical delivery must not collide.

use alter_core::{EventId, IdpKind};
use alter_idp_sim::{IdpSim, LogStreamFormat, TenantKind, TenantOptions};
use serde_json::json;

use super::{Delivery, Receiver, app, receive, verifier};

/// The lifecycle event IDs each attempt yields for `app`.
fn ids(
    v: &alter_providers::WebhookVerifier,
    attempts: &[Delivery],
    app: alter_core::AppId,
) -> Vec<Vec<EventId>> {
    attempts
        .iter()
        .map(|d| {
            receive(v, d)
                .lifecycle_events(app)
                .iter()
                .map(|e| e.event_id)
                .collect()
        })
        .collect()
}

fn assert_same_across_attempts(per_attempt: &[Vec<EventId>], expected_events: usize) {
    assert_eq!(per_attempt.len(), 2, "one failure, one retry");
    assert_eq!(per_attempt[0].len(), expected_events);
    assert_eq!(per_attempt[0], per_attempt[1]);
}

#[tokio::test]
async fn r_hook_06_each_providers_retried_delivery_yields_the_same_event_ids() {
    let sim = IdpSim::start().await.unwrap();
    let clerk = sim
        .create_tenant("ck", TenantKind::Clerk, TenantOptions::default())
        .unwrap();
    sim.create_tenant("a0", TenantKind::Auth0, TenantOptions::default())
        .unwrap();
    sim.create_tenant("ok", TenantKind::Okta, TenantOptions::default())
        .unwrap();
    let (app_a, app_b) = (app(), app());

    // Clerk: same svix-id, a fresh svix-timestamp and signature per attempt.
    let rx = Receiver::failing_first(1).await;
    let secret = clerk.webhook_secret.unwrap();
    sim.send_clerk_webhook(
        "ck",
        &rx.target(None),
        "user.deleted",
        json!({"object": "user", "id": "user_1", "deleted": true}),
        &[],
    )
    .await
    .unwrap();
    let attempts = rx.take();
    assert_eq!(
        attempts[0].headers["svix-id"],
        attempts[1].headers["svix-id"]
    );
    let v = verifier(IdpKind::Clerk, &[&secret]);
    let a = ids(&v, &attempts, app_a);
    assert_same_across_attempts(&a, 1);
    let b = ids(&v, &attempts, app_b);
    assert_ne!(a[0], b[0], "another app's event IDs differ");

    // Auth0: the records keep their log_id across attempts.
    let rx = Receiver::failing_first(1).await;
    sim.send_auth0_log_stream(
        "a0",
        &rx.target(Some("Bearer s3cret")),
        LogStreamFormat::Jsonlines,
        vec![
            json!({"type": "sdu", "user_id": "auth0|1"}),
            json!({"type": "ublkdu", "user_id": "auth0|2"}),
        ],
    )
    .await
    .unwrap();
    let attempts = rx.take();
    let v = verifier(IdpKind::Auth0, &["s3cret"]);
    let a = ids(&v, &attempts, app_a);
    assert_same_across_attempts(&a, 2);
    assert_ne!(a[0][0], a[0][1], "each record has its own ID");
    assert_ne!(a[0], ids(&v, &attempts, app_b)[0]);

    // Okta: each event of the batch is named by its own uuid.
    let rx = Receiver::failing_first(1).await;
    sim.send_okta_event_hook(
        "ok",
        &rx.target(Some("hook-secret")),
        vec![
            json!({"eventType": "user.lifecycle.suspend", "target": [{"id": "00u1", "type": "User"}]}),
            json!({"eventType": "user.lifecycle.deactivate", "target": [{"id": "00u2", "type": "User"}]}),
        ],
    )
    .await
    .unwrap();
    let attempts = rx.take();
    let v = verifier(IdpKind::Okta, &["hook-secret"]);
    let a = ids(&v, &attempts, app_a);
    assert_same_across_attempts(&a, 2);
    assert_ne!(a[0][0], a[0][1]);
    let parsed = receive(&v, &attempts[0]);
    assert_eq!(
        a[0][0],
        alter_providers::webhook_event_id(
            app_a,
            IdpKind::Okta,
            &parsed.events[0].provider_event_id
        )
    );
    assert_ne!(a[0], ids(&v, &attempts, app_b)[0]);
}
