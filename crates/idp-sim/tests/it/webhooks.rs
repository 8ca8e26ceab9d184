use std::sync::{Arc, Mutex};

use alter_idp_sim::{LogStreamFormat, TenantKind, WebhookTarget};
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::sim_with;

type Seen = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// A receiver that records requests and answers `fail_first` times with 500 first.
async fn receiver(fail_first: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let app = Router::new().route(
        "/hook",
        any(move |m: axum::http::Method, h: HeaderMap, body: String| {
            let s = s2.clone();
            async move {
                let mut v = s.lock().unwrap();
                v.push((m.to_string(), h.clone(), body));
                if let Some(c) = h.get("x-okta-verification-challenge") {
                    return (
                        StatusCode::OK,
                        json!({"verification": c.to_str().unwrap()}).to_string(),
                    );
                }
                if v.len() <= fail_first {
                    (StatusCode::INTERNAL_SERVER_ERROR, String::new())
                } else {
                    (StatusCode::OK, String::new())
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, seen)
}

fn expected_sig(secret: &str, id: &str, ts: &str, body: &str) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn svix_signature_matches_reference_test_vector() {
    let body = r#"{"type":"user.deleted","object":"event","data":{"id":"user_2fake","object":"user","deleted":true}}"#;
    let sig = alter_idp_sim::svix_signature(
        "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        "msg_2fakeTestVector0000000001",
        1_700_000_000,
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(sig, "v1,a696llH9/U32cMsMouAH9BL+DJE/3oyVfme7yDzy8Hk=");
}

#[tokio::test]
async fn clerk_webhook_signatures_verify_by_hand_with_rotation_and_retries_keep_svix_id() {
    let (sim, info) = sim_with("ck", TenantKind::Clerk).await;
    let (url, seen) = receiver(1).await;
    let second = "whsec_qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq".to_string();
    let target = WebhookTarget {
        url,
        retry_delays_ms: Some(vec![1, 1]),
        ..Default::default()
    };
    let rep = sim
        .send_clerk_webhook(
            "ck",
            &target,
            "user.deleted",
            json!({"id": "user_x", "object": "user", "deleted": true}),
            std::slice::from_ref(&second),
        )
        .await
        .unwrap();
    assert!(rep.delivered);
    assert_eq!(rep.attempts.len(), 2);
    let v = seen.lock().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].1["svix-id"], v[1].1["svix-id"]);
    for (_, h, body) in v.iter() {
        let id = h["svix-id"].to_str().unwrap();
        let ts = h["svix-timestamp"].to_str().unwrap();
        let sigs: Vec<&str> = h["svix-signature"].to_str().unwrap().split(' ').collect();
        assert_eq!(sigs.len(), 2);
        for (secret, sig) in [info.webhook_secret.clone().unwrap(), second.clone()]
            .iter()
            .zip(&sigs)
        {
            assert_eq!(
                sig.strip_prefix("v1,").unwrap(),
                expected_sig(secret, id, ts, body)
            );
        }
        let env: Value = serde_json::from_str(body).unwrap();
        assert_eq!(env["object"], "event");
        assert_eq!(env["type"], "user.deleted");
    }
}

#[tokio::test]
async fn auth0_log_stream_formats_and_three_attempts() {
    let (sim, _) = sim_with("a0", TenantKind::Auth0).await;
    let (url, seen) = receiver(5).await;
    let target = WebhookTarget {
        url: url.clone(),
        authorization: Some("Bearer s3cret".into()),
        retry_delays_ms: Some(vec![1, 1]),
        ..Default::default()
    };
    let recs = vec![
        json!({"type": "sdu", "user_id": "auth0|1"}),
        json!({"type": "sapi"}),
    ];
    let rep = sim
        .send_auth0_log_stream("a0", &target, LogStreamFormat::Jsonarray, recs.clone())
        .await
        .unwrap();
    assert!(!rep.delivered);
    assert_eq!(rep.attempts.len(), 3);
    let (url2, seen2) = receiver(0).await;
    let t2 = WebhookTarget {
        url: url2,
        authorization: Some("Bearer s3cret".into()),
        ..Default::default()
    };
    sim.send_auth0_log_stream("a0", &t2, LogStreamFormat::Jsonlines, recs.clone())
        .await
        .unwrap();
    sim.send_auth0_log_stream("a0", &t2, LogStreamFormat::Jsonobject, recs)
        .await
        .unwrap();
    let v = seen2.lock().unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].1["authorization"], "Bearer s3cret");
    let lines: Vec<Value> = v[0]
        .2
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["log_id"], lines[0]["data"]["log_id"]);
    let obj: Value = serde_json::from_str(&v[1].2).unwrap();
    assert_eq!(obj["data"]["type"], "sdu");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn okta_verification_get_challenge_and_event_hook_retry_once() {
    let (sim, _) = sim_with("ok", TenantKind::Okta).await;
    let (url, seen) = receiver(10).await;
    let target = WebhookTarget {
        url,
        authorization: Some("hook-secret".into()),
        retry_delays_ms: Some(vec![1]),
        ..Default::default()
    };
    let rep = sim.verify_okta_event_hook(&target).await.unwrap();
    assert!(rep.delivered);
    {
        let v = seen.lock().unwrap();
        assert_eq!(v[0].0, "GET");
        assert_eq!(
            v[0].1["x-okta-verification-challenge"].to_str().unwrap(),
            rep.message_id
        );
    }
    let rep = sim.send_okta_event_hook("ok", &target, vec![json!({"eventType": "user.lifecycle.deactivate", "target": [{"id": "00u1", "type": "User"}]})]).await.unwrap();
    assert!(!rep.delivered);
    assert_eq!(rep.attempts.len(), 2, "exactly one retry on 5xx");
    let v = seen.lock().unwrap();
    assert_eq!(v[1].1["authorization"], "hook-secret");
    let env: Value = serde_json::from_str(&v[1].2).unwrap();
    assert_eq!(env["eventType"], "com.okta.event_hook");
    assert_eq!(
        env["data"]["events"][0]["eventType"],
        "user.lifecycle.deactivate"
    );
}
