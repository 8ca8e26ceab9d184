//! Auth0 log streams (R-HOOK-02): the simulator's sender, in every body format.

use alter_core::{EventEffect, ExternalUserId, IdpKind, LifecycleKind};
use alter_idp_sim::{IdpSim, LogStreamFormat, TenantKind, TenantOptions};
use alter_providers::inbound::{IgnoreReason, RecordError};
use alter_providers::{InboundChange, ParsedDelivery};
use http::StatusCode;
use serde_json::{Value, json};

use super::{Receiver, app, receive, refusal, verifier};

const SECRET: &str = "alt_whk_9Jc2uQ0b4m0G2m3sS5kq1T8p0xZ7vY6wR4eD3cB2aA1";

async fn sim() -> IdpSim {
    let sim = IdpSim::start().await.unwrap();
    sim.create_tenant("acme", TenantKind::Auth0, TenantOptions::default())
        .unwrap();
    sim
}

/// Every code R-HOOK-02 names, as the log stream sends them.
fn records() -> Vec<Value> {
    vec![
        json!({"log_id": "90020250301120000000000000000000000000000000000001", "type": "sdu",
               "date": "2025-03-01T12:00:00.123Z", "user_id": "auth0|65a1f0c2d4e5f60718293a4b",
               "user_name": "dana@example.com", "description": "Deleted user",
               "details": {"body": {"connection": "Username-Password-Authentication"}}}),
        json!({"log_id": "90020250301120001000000000000000000000000000000002", "type": "ublkdu",
               "date": "2025-03-01T12:00:01Z", "user_id": "auth0|77"}),
        json!({"log_id": "90020250301120002000000000000000000000000000000003", "type": "sul",
               "date": "2025-03-01T12:00:02Z", "user_id": "auth0|77"}),
        json!({"log_id": "90020250301120003000000000000000000000000000000004", "type": "limit_wc",
               "date": "2025-03-01T12:00:03Z", "user_id": "auth0|77"}),
        json!({"log_id": "90020250301120004000000000000000000000000000000005", "type": "sapi",
               "date": "2025-03-01T12:00:04Z",
               "details": {"request": {"method": "patch", "path": "/api/v2/users/auth0|77", "body": {"blocked": true}}}}),
        json!({"log_id": "90020250301120005000000000000000000000000000000006", "type": "fdu",
               "date": "2025-03-01T12:00:05Z", "user_id": "auth0|88"}),
    ]
}

/// All parsed deliveries of one send, merged (JSONOBJECT sends one request per record).
fn merged(parts: Vec<ParsedDelivery>) -> ParsedDelivery {
    let mut all = ParsedDelivery {
        provider: IdpKind::Auth0,
        delivery_id: None,
        events: vec![],
        ignored: vec![],
        rejected: vec![],
    };
    for p in parts {
        all.events.extend(p.events);
        all.ignored.extend(p.ignored);
        all.rejected.extend(p.rejected);
    }
    all
}

#[tokio::test]
async fn r_hook_02_auth0_array_lines_and_object_bodies_give_the_same_events() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    let auth = format!("Bearer {SECRET}");
    let v = verifier(IdpKind::Auth0, &[SECRET]);
    let mut outcomes = Vec::new();
    for format in [
        LogStreamFormat::Jsonarray,
        LogStreamFormat::Jsonlines,
        LogStreamFormat::Jsonobject,
    ] {
        let report = sim
            .send_auth0_log_stream("acme", &rx.target(Some(&auth)), format, records())
            .await
            .unwrap();
        assert!(report.delivered, "{format:?}: {report:?}");
        let deliveries = rx.take();
        let expected_requests = if format == LogStreamFormat::Jsonobject {
            6
        } else {
            1
        };
        assert_eq!(deliveries.len(), expected_requests, "{format:?}");
        if format == LogStreamFormat::Jsonlines {
            // Really JSON lines: a plain JSON parser refuses the body.
            assert!(serde_json::from_slice::<Value>(&deliveries[0].body).is_err());
        }
        outcomes.push(merged(deliveries.iter().map(|d| receive(&v, d)).collect()));
    }
    for parsed in &outcomes {
        assert_eq!(parsed, &outcomes[0]);
    }
    let parsed = &outcomes[0];
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    assert_eq!(parsed.events.len(), 2);
    let sdu = &parsed.events[0];
    assert_eq!(
        sdu.provider_event_id,
        "90020250301120000000000000000000000000000000000001"
    );
    assert_eq!(sdu.event_type, "sdu");
    assert_eq!(
        sdu.occurred_at.to_rfc3339(),
        "2025-03-01T12:00:00.123+00:00"
    );
    assert_eq!(
        sdu.change,
        InboundChange::Deprovision {
            user: ExternalUserId::parse("user_id", "auth0|65a1f0c2d4e5f60718293a4b").unwrap()
        }
    );
    assert_eq!(parsed.events[1].effect(), EventEffect::Reactivate);
    // Every other code, `sul` included, is acknowledged and ignored.
    let ignored: Vec<(&str, usize)> = parsed.ignored_by_type().into_iter().collect();
    assert_eq!(
        ignored,
        [("fdu", 1), ("limit_wc", 1), ("sapi", 1), ("sul", 1)]
    );
    assert!(
        parsed
            .ignored
            .iter()
            .all(|i| i.reason == IgnoreReason::NoEffect && i.provider_event_id.is_some())
    );

    let app = app();
    let lifecycle = parsed.lifecycle_events(app);
    assert!(matches!(
        &lifecycle[0].kind,
        LifecycleKind::UserDeprovisioned { user } if user.user_id.is_none()
            && user.external_id.as_str() == "auth0|65a1f0c2d4e5f60718293a4b"
    ));
    assert!(matches!(
        &lifecycle[1].kind,
        LifecycleKind::UserReactivated { .. }
    ));
    assert_eq!(
        lifecycle[0].provider_event_id.as_deref(),
        Some("90020250301120000000000000000000000000000000000001")
    );
}

#[tokio::test]
async fn r_hook_02_auth0_secret_is_accepted_bare_or_after_bearer_in_any_case() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    let v = verifier(IdpKind::Auth0, &[SECRET]);
    for auth in [
        SECRET.to_owned(),
        format!("Bearer {SECRET}"),
        format!("bearer {SECRET}"),
        format!("BEARER {SECRET}"),
    ] {
        sim.send_auth0_log_stream(
            "acme",
            &rx.target(Some(&auth)),
            LogStreamFormat::Jsonarray,
            vec![json!({"type": "sdu", "user_id": "auth0|1"})],
        )
        .await
        .unwrap();
        let delivery = rx.single();
        assert_eq!(delivery.headers["authorization"], auth.as_str());
        let parsed = receive(&v, &delivery);
        assert_eq!(parsed.events.len(), 1, "{auth}");
        // The simulator stamps the record with its own log_id and date.
        assert!(parsed.events[0].provider_event_id.starts_with("900"));
    }
}

#[tokio::test]
async fn r_hook_07_auth0_wrong_missing_and_rotated_out_secrets_are_401() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    let old = "alt_whk_old_secret_before_rotation_000000000000000";
    for auth in [None, Some(format!("Bearer {old}"))] {
        sim.send_auth0_log_stream(
            "acme",
            &rx.target(auth.as_deref()),
            LogStreamFormat::Jsonarray,
            vec![json!({"type": "sdu", "user_id": "auth0|1"})],
        )
        .await
        .unwrap();
    }
    let deliveries = rx.take();
    let (without, with_old) = (&deliveries[0], &deliveries[1]);
    assert!(!without.headers.contains_key("authorization"));

    // During the grace period both secrets pass; once rotated out, the old one is refused.
    let during_rotation = verifier(IdpKind::Auth0, &[SECRET, old]);
    assert_eq!(receive(&during_rotation, with_old).events.len(), 1);
    let after_rotation = verifier(IdpKind::Auth0, &[SECRET]);
    let err = refusal(&after_rotation, with_old, &[SECRET, old]);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(err.code(), "wrong_secret");

    let err = refusal(&after_rotation, without, &[SECRET]);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(err.code(), "missing_header");

    for bad in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Basic Zm9vOmJhcg==".to_owned(),
        format!("Bearer {}", &SECRET[..SECRET.len() - 1]),
        format!("Bearer {SECRET}x"),
        format!("Token {SECRET}"),
        format!("Bearer {}", SECRET.to_uppercase()),
    ] {
        let err = refusal(
            &after_rotation,
            &with_old.with_header("authorization", Some(&bad)),
            &[SECRET],
        );
        assert_eq!(err.code(), "wrong_secret", "{bad}");
    }
}

#[tokio::test]
async fn r_hook_08_an_authentic_auth0_batch_with_malformed_records_parses_the_others() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    let auth = format!("Bearer {SECRET}");
    let v = verifier(IdpKind::Auth0, &[SECRET]);
    let batch = vec![
        json!({"log_id": "9001", "type": "sdu", "user_id": "auth0|1", "date": "2025-03-01T12:00:00Z"}),
        json!({"log_id": "9002", "type": "sdu", "date": "2025-03-01T12:00:00Z"}),
        json!({"log_id": "9003", "type": "sdu", "user_id": "auth0|3", "date": "last tuesday"}),
        json!({"log_id": "9004", "user_id": "auth0|4"}),
        json!({"log_id": "9005", "type": "ublkdu", "user_id": "", "date": "2025-03-01T12:00:00Z"}),
        json!({"log_id": "9006", "type": "ublkdu", "user_id": "auth0|6", "date": "2025-03-01T12:00:06Z"}),
    ];
    sim.send_auth0_log_stream(
        "acme",
        &rx.target(Some(&auth)),
        LogStreamFormat::Jsonarray,
        batch.clone(),
    )
    .await
    .unwrap();
    let parsed = receive(&v, &rx.single());
    let ids: Vec<&str> = parsed
        .events
        .iter()
        .map(|e| e.provider_event_id.as_str())
        .collect();
    assert_eq!(ids, ["9001", "9006"]);
    let rejected: Vec<(usize, Option<&str>, String)> = parsed
        .rejected
        .iter()
        .map(|r| (r.index, r.provider_event_id.as_deref(), r.error.to_string()))
        .collect();
    assert_eq!(rejected.len(), 4, "{rejected:?}");
    assert_eq!(
        parsed.rejected[0].error,
        RecordError::MissingField {
            field: "data.user_id"
        }
    );
    assert_eq!(rejected[0].0, 1);
    assert_eq!(rejected[0].1, Some("9002"));
    assert!(
        rejected[1]
            .2
            .starts_with("data.date is not an RFC 3339 timestamp"),
        "{rejected:?}"
    );
    assert_eq!(
        parsed.rejected[2].error,
        RecordError::MissingField { field: "data.type" }
    );
    assert_eq!(parsed.rejected[2].event_type, None);
    assert_eq!(parsed.rejected[3].error.code(), "invalid_field");
    assert_eq!(parsed.rejected[3].event_type.as_deref(), Some("ublkdu"));

    // JSON lines with one line cut short in transit: the other lines still parse.
    sim.send_auth0_log_stream(
        "acme",
        &rx.target(Some(&auth)),
        LogStreamFormat::Jsonlines,
        vec![batch[0].clone(), batch[5].clone(), batch[0].clone()],
    )
    .await
    .unwrap();
    let delivery = rx.single();
    let text = String::from_utf8(delivery.body.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = format!("{}\n{}\n{}", lines[0], &lines[1][..20], lines[2]);
    let parsed = receive(&v, &delivery.with_body(cut));
    assert_eq!(parsed.events.len(), 2);
    assert_eq!(parsed.rejected.len(), 1);
    assert_eq!(parsed.rejected[0].index, 1);
    assert_eq!(parsed.rejected[0].error.code(), "not_json");
    assert_eq!(parsed.rejected[0].provider_event_id, None);

    // An array element that is not an object is rejected on its own too.
    let parsed = receive(
        &v,
        &delivery.with_body(format!("[{}, 42, \"x\"]", lines[0])),
    );
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(
        parsed
            .rejected
            .iter()
            .map(|r| (r.index, r.error.code()))
            .collect::<Vec<_>>(),
        [(1, "not_an_object"), (2, "not_an_object")]
    );
}

#[tokio::test]
async fn r_hook_07_auth0_bodies_in_none_of_the_three_forms_are_400_and_oversize_413() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    let v = verifier(IdpKind::Auth0, &[SECRET]);
    sim.send_auth0_log_stream(
        "acme",
        &rx.target(Some(SECRET)),
        LogStreamFormat::Jsonobject,
        vec![json!({"type": "sdu", "user_id": "auth0|1"})],
    )
    .await
    .unwrap();
    let delivery = rx.single();
    for (body, code) in [
        ("", "body_not_json"),
        ("<html>502 Bad Gateway</html>", "body_not_json"),
        ("[{\"log_id\": \"1\"", "body_not_json"),
        ("\"sdu\"", "body_wrong_shape"),
        ("17", "body_wrong_shape"),
        ("true", "body_wrong_shape"),
    ] {
        let err = refusal(&v, &delivery.with_body(body), &[SECRET]);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(err.code(), code, "{body:?}");
    }
    // The size limit is checked before anything else, authentication included.
    let small = verifier(IdpKind::Auth0, &[SECRET]).with_max_body_bytes(delivery.body.len() - 1);
    let err = refusal(
        &small,
        &delivery.with_header("authorization", None),
        &[SECRET],
    );
    assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let exact = verifier(IdpKind::Auth0, &[SECRET]).with_max_body_bytes(delivery.body.len());
    assert_eq!(receive(&exact, &delivery).events.len(), 1);
    // Unauthenticated junk is a 401, not a 400: nothing is parsed before authentication.
    let err = refusal(
        &v,
        &delivery
            .with_body("not json")
            .with_header("authorization", Some("nope")),
        &[SECRET],
    );
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
}
