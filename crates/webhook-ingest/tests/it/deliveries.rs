//! Deliveries as the providers send them (idp-sim's senders, byte for byte): answered 2xx
//! only once every event is on JetStream (R-HOOK-06), logged per event (R-HOOK-08), and
//! bad input refused with a clear status that changes nothing (R-HOOK-07).

use alter_idp_sim::{LogStreamFormat, TenantKind};
use alter_store::DeliveryOutcome;
use serde_json::{Value, json};

use crate::support::{Harness, OKTA_AUTHORIZATION, target};

fn sdu(user: &str, log_id: &str) -> Value {
    json!({ "log_id": log_id, "type": "sdu", "user_id": user, "description": "User deleted" })
}

fn outcomes(log: &[alter_store::LoggedDelivery]) -> Vec<(Option<String>, DeliveryOutcome)> {
    // Oldest first, then grouped by provider event ID (a stable sort keeps the order).
    let mut out: Vec<_> = log
        .iter()
        .rev()
        .map(|d| (d.record.provider_event_id.clone(), d.record.outcome))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn r_hook_07_unknown_paths_and_methods_are_never_answered_2xx() {
    let mut h = Harness::start().await;
    let app = h.app("paths", TenantKind::Auth0, true).await;
    let base = h.ingest.url();
    let idp = app.idp.to_string();
    let random = alter_core::IdpId::new().to_string();
    let cases = [
        (reqwest::Method::GET, format!("{base}/"), 404),
        (reqwest::Method::POST, format!("{base}/v1/webhooks"), 404),
        (
            reqwest::Method::POST,
            format!("{base}/v1/webhooks/not-an-id"),
            404,
        ),
        (
            reqwest::Method::POST,
            format!("{base}/v1/webhooks/{random}"),
            404,
        ),
        (reqwest::Method::POST, format!("{base}/v1/hooks/{idp}"), 404),
        (
            reqwest::Method::PUT,
            format!("{base}/v1/webhooks/{idp}"),
            405,
        ),
        (
            reqwest::Method::DELETE,
            format!("{base}/v1/webhooks/{idp}"),
            405,
        ),
        // A GET is Okta's verification only.
        (
            reqwest::Method::GET,
            format!("{base}/v1/webhooks/{idp}"),
            405,
        ),
    ];
    for (method, url, status) in cases {
        let response = h
            .http
            .request(method.clone(), &url)
            .header("content-type", "application/json")
            .body("[]")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {url}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    assert_eq!(h.published().await, 0);
    h.finish().await;
}

#[tokio::test]
async fn r_hook_02_r_hook_06_auth0_batches_in_every_form_are_accepted_once_durable() {
    let mut h = Harness::start().await;
    let app = h.app("a0", TenantKind::Auth0, true).await;
    let bearer = format!("Bearer {}", app.secret);
    let forms = [
        (LogStreamFormat::Jsonarray, Some(bearer.as_str()), "900001"),
        (
            LogStreamFormat::Jsonlines,
            Some(app.secret.as_str()),
            "900002",
        ),
        (LogStreamFormat::Jsonobject, Some(bearer.as_str()), "900003"),
    ];
    for (format, authorization, log_id) in forms {
        let report = h
            .sim
            .send_auth0_log_stream(
                &app.tenant,
                &target(&app.url, authorization),
                format,
                vec![sdu(&format!("auth0|{log_id}"), log_id)],
            )
            .await
            .unwrap();
        assert!(report.delivered, "{format:?}: {report:?}");
    }
    // A code we do not act on is acknowledged and logged as ignored.
    let ignored = h
        .sim
        .send_auth0_log_stream(
            &app.tenant,
            &target(&app.url, Some(&bearer)),
            LogStreamFormat::Jsonarray,
            vec![json!({ "log_id": "900004", "type": "s", "user_id": "auth0|x" })],
        )
        .await
        .unwrap();
    assert!(ignored.delivered);
    assert_eq!(h.published().await, 3);

    // The same record again: acknowledged, not published twice.
    let again = h
        .sim
        .send_auth0_log_stream(
            &app.tenant,
            &target(&app.url, Some(&bearer)),
            LogStreamFormat::Jsonarray,
            vec![sdu("auth0|900001", "900001")],
        )
        .await
        .unwrap();
    assert!(again.delivered);
    assert_eq!(h.published().await, 3, "a redelivery is stored once");
    let log = h.deliveries(&app).await;
    assert_eq!(
        outcomes(&log),
        [
            (Some("900001".into()), DeliveryOutcome::Accepted),
            (Some("900001".into()), DeliveryOutcome::Duplicate),
            (Some("900002".into()), DeliveryOutcome::Accepted),
            (Some("900003".into()), DeliveryOutcome::Accepted),
            (Some("900004".into()), DeliveryOutcome::Ignored),
        ]
    );
    h.finish().await;
}

#[tokio::test]
async fn r_hook_08_an_authentic_batch_with_one_malformed_record_applies_the_others_and_keeps_it() {
    let mut h = Harness::start().await;
    let app = h.app("a0bad", TenantKind::Auth0, true).await;
    let report = h
        .sim
        .send_auth0_log_stream(
            &app.tenant,
            &target(&app.url, Some(&app.secret)),
            LogStreamFormat::Jsonarray,
            vec![
                sdu("auth0|good1", "900101"),
                // An sdu without the user it deleted: no retry could ever fix it.
                json!({ "log_id": "900102", "type": "sdu" }),
                sdu("auth0|good2", "900103"),
            ],
        )
        .await
        .unwrap();
    assert!(report.delivered, "{report:?}");
    assert_eq!(h.published().await, 2);
    let log = h.deliveries(&app).await;
    let rejected: Vec<_> = log
        .iter()
        .filter(|d| d.record.outcome == DeliveryOutcome::Rejected)
        .collect();
    assert_eq!(rejected.len(), 1, "{log:?}");
    assert!(
        rejected[0]
            .record
            .reason
            .as_deref()
            .is_some_and(|r| !r.is_empty())
    );
    h.finish().await;
}

#[tokio::test]
async fn r_hook_03_clerk_deliveries_are_checked_against_svix_signatures() {
    let mut h = Harness::start().await;
    let app = h.app("clerk", TenantKind::Clerk, true).await;
    for (event_type, data) in [
        (
            "user.deleted",
            json!({ "id": "user_2abc", "object": "user", "deleted": true }),
        ),
        (
            "organization.deleted",
            json!({ "id": "org_2abc", "object": "organization", "deleted": true }),
        ),
        (
            "session.created",
            json!({ "id": "sess_1", "object": "session" }),
        ),
    ] {
        let report = h
            .sim
            .send_clerk_webhook(&app.tenant, &target(&app.url, None), event_type, data, &[])
            .await
            .unwrap();
        assert!(report.delivered, "{event_type}: {report:?}");
    }
    assert_eq!(h.published().await, 2, "session.created is ignored");
    h.finish().await;
}

#[tokio::test]
async fn r_hook_04_okta_verification_is_answered_before_webhooks_are_enabled_and_hooks_are_checked()
{
    let mut h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta, false).await;
    let verified = h
        .sim
        .verify_okta_event_hook(&target(&app.url, None))
        .await
        .unwrap();
    assert!(verified.delivered, "{verified:?}");
    // A challenge with quotes, a backslash and a tab comes back as well-formed JSON.
    let tricky = "ab\"c\\d\te";
    let answer = h
        .http
        .get(&app.url)
        .header("x-okta-verification-challenge", tricky)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body, json!({ "verification": tricky }));
    let long = h
        .http
        .get(&app.url)
        .header("x-okta-verification-challenge", "x".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 400);

    // Deliveries before enabling: 404, nothing taken.
    let suspend = || {
        vec![json!({
            "eventType": "user.lifecycle.suspend",
            "target": [{ "id": "00u1", "type": "User", "alternateId": "a@example.com", "displayName": "A" }],
        })]
    };
    let early = h
        .sim
        .send_okta_event_hook(
            &app.tenant,
            &target(&app.url, Some(OKTA_AUTHORIZATION)),
            suspend(),
        )
        .await
        .unwrap();
    assert_eq!(early.attempts[0].status, Some(404));
    h.admin
        .enable_webhooks(alter_proto::admin::v1::EnableWebhooksRequest {
            app_id: app.app.to_string(),
            secret: OKTA_AUTHORIZATION.into(),
        })
        .await
        .unwrap();
    let wrong = h
        .sim
        .send_okta_event_hook(&app.tenant, &target(&app.url, Some("not-it")), suspend())
        .await
        .unwrap();
    assert_eq!(wrong.attempts[0].status, Some(401));
    let right = h
        .sim
        .send_okta_event_hook(
            &app.tenant,
            &target(&app.url, Some(OKTA_AUTHORIZATION)),
            suspend(),
        )
        .await
        .unwrap();
    assert!(right.delivered, "{right:?}");
    assert_eq!(h.published().await, 1);
    h.finish().await;
}

#[tokio::test]
async fn r_hook_07_bad_input_gets_a_clear_status_and_changes_nothing() {
    let mut h = Harness::start().await;
    let app = h.app("bad", TenantKind::Auth0, true).await;
    let off = h.app("off", TenantKind::Auth0, false).await;
    let record = serde_json::to_vec(&json!([sdu("auth0|1", "900201")])).unwrap();
    let big = vec![b' '; 1024 * 1024 + 10];
    /// (what, URL, Authorization, Content-Type, body, expected status)
    type Case<'a> = (&'a str, &'a str, Option<String>, &'a str, Vec<u8>, u16);
    let cases: Vec<Case<'_>> = vec![
        (
            "missing authorization",
            &app.url,
            None,
            "application/json",
            record.clone(),
            401,
        ),
        (
            "wrong secret",
            &app.url,
            Some("Bearer alt_whk_wrong".into()),
            "application/json",
            record.clone(),
            401,
        ),
        (
            "truncated secret",
            &app.url,
            Some(format!("Bearer {}", &app.secret[..app.secret.len() - 3])),
            "application/json",
            record.clone(),
            401,
        ),
        (
            "malformed JSON",
            &app.url,
            Some(app.secret.clone()),
            "application/json",
            b"[{\"log_id\":".to_vec(),
            400,
        ),
        (
            "wrong content type",
            &app.url,
            Some(app.secret.clone()),
            "text/html",
            record.clone(),
            415,
        ),
        (
            "body over the limit",
            &app.url,
            Some(app.secret.clone()),
            "application/json",
            big,
            413,
        ),
        (
            "webhooks not enabled",
            &off.url,
            Some(app.secret.clone()),
            "application/json",
            record.clone(),
            404,
        ),
    ];
    for (what, url, authorization, content_type, body, status) in cases {
        let mut request = h
            .http
            .post(url)
            .header("content-type", content_type)
            .body(body);
        if let Some(a) = &authorization {
            request = request.header("authorization", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = response.json().await.unwrap();
        let message = body["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{what}: {body}");
        assert!(
            !message.contains(&app.secret),
            "{what}: the secret is never echoed"
        );
    }
    assert_eq!(h.published().await, 0, "no event published");
    assert!(h.deliveries(&app).await.is_empty(), "no row written");
    assert!(h.deliveries(&off).await.is_empty(), "no row written");
    h.finish().await;
}

#[tokio::test]
async fn r_hook_07_stale_or_future_svix_timestamps_and_rotated_out_secrets_are_refused() {
    let mut h = Harness::start().await;
    let clerk = h.app("clerk-time", TenantKind::Clerk, true).await;
    let deleted = || json!({ "id": "user_2time", "object": "user", "deleted": true });
    for (shift, what) in [(-400, "stale"), (400, "future")] {
        h.sim.advance_clock(shift);
        let report = h
            .sim
            .send_clerk_webhook(
                &clerk.tenant,
                &target(&clerk.url, None),
                "user.deleted",
                deleted(),
                &[],
            )
            .await
            .unwrap();
        h.sim.advance_clock(-shift);
        assert_eq!(report.attempts[0].status, Some(401), "{what}: {report:?}");
    }

    // Auth0: after a rotation the old secret works during the grace period, then not.
    let a0 = h.app("a0-rotate", TenantKind::Auth0, true).await;
    let rotated = h
        .admin
        .rotate_webhook_secret(alter_proto::admin::v1::RotateWebhookSecretRequest {
            app_id: a0.app.to_string(),
            secret: String::new(),
            grace_period_secs: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let send = |secret: String, log_id: &'static str| {
        let h = &h;
        let url = a0.url.clone();
        let tenant = a0.tenant.clone();
        async move {
            h.sim
                .send_auth0_log_stream(
                    &tenant,
                    &target(&url, Some(&secret)),
                    LogStreamFormat::Jsonarray,
                    vec![sdu("auth0|rot", log_id)],
                )
                .await
                .unwrap()
                .attempts[0]
                .status
        }
    };
    assert_eq!(
        send(a0.secret.clone(), "900301").await,
        Some(200),
        "old secret within grace"
    );
    assert_eq!(
        send(rotated.secret.clone(), "900302").await,
        Some(200),
        "new secret"
    );
    // The grace period itself is what is tested: wait past it.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(
        send(a0.secret.clone(), "900303").await,
        Some(401),
        "old secret after grace"
    );
    assert_eq!(h.published().await, 2);
    h.finish().await;
}
