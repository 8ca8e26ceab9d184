//! Okta event hooks (R-HOOK-04): the verification GET and event deliveries from the
//! simulator's sender.

use alter_core::{EventEffect, ExternalGroupId, ExternalUserId, IdpKind};
use alter_idp_sim::{IdpSim, TenantKind, TenantOptions};
use alter_providers::InboundChange;
use alter_providers::inbound::okta::{
    CHALLENGE_HEADER, MAX_CHALLENGE_BYTES, okta_challenge_response, verification_challenge,
};
use alter_providers::inbound::{ChallengeError, IgnoreReason, RecordError};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::{Receiver, receive, refusal, verifier};

const SECRET: &str = "okta-hook-3f9c2a7e51b04d8e";

async fn sim() -> IdpSim {
    let sim = IdpSim::start().await.unwrap();
    sim.create_tenant("acme", TenantKind::Okta, TenantOptions::default())
        .unwrap();
    sim
}

fn user(id: &str) -> Value {
    json!({"id": id, "type": "User", "alternateId": "dana@example.com", "displayName": "Dana Q", "detailEntry": null})
}

fn group(id: &str) -> Value {
    json!({"id": id, "type": "UserGroup", "alternateId": "unknown", "displayName": "Finance", "detailEntry": null})
}

fn event(uuid: &str, event_type: &str, target: Vec<Value>) -> Value {
    json!({
        "uuid": uuid, "eventType": event_type, "published": "2025-03-01T12:00:01.234Z",
        "displayMessage": "…", "actor": {"id": "00uAdmin", "type": "User"},
        "target": target, "outcome": {"result": "SUCCESS", "reason": null},
    })
}

#[tokio::test]
async fn r_hook_04_okta_verification_get_is_answered_by_echoing_the_challenge() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    // The receiver answers with verification_challenge + okta_challenge_response only.
    let report = sim.verify_okta_event_hook(&rx.target(None)).await.unwrap();
    assert!(report.delivered, "{report:?}");
    assert_eq!(report.attempts.len(), 1);
}

#[test]
fn r_hook_04_okta_challenges_with_quotes_or_control_characters_stay_well_formed_json() {
    let mut headers = HeaderMap::new();
    for challenge in [
        "3xQ9\"}{\"verification\":\"x",
        "tab\there",
        "back\\slash",
        "</script>",
    ] {
        headers.insert(CHALLENGE_HEADER, HeaderValue::from_str(challenge).unwrap());
        let value = verification_challenge(&headers).unwrap().unwrap();
        let body = okta_challenge_response(value).unwrap();
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed, json!({ "verification": challenge }), "{body}");
    }
    for control in ["\u{1}", "\n", "\u{7f}", "\u{2028}"] {
        let challenge = format!("a{control}b");
        let body = okta_challenge_response(&challenge).unwrap();
        assert!(!body.contains(control) || control == "\u{7f}" || control == "\u{2028}");
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["verification"], challenge.as_str());
    }
    let long = "a".repeat(MAX_CHALLENGE_BYTES + 1);
    headers.insert(CHALLENGE_HEADER, HeaderValue::from_str(&long).unwrap());
    assert_eq!(
        verification_challenge(&headers).unwrap_err(),
        ChallengeError::TooLong {
            len: MAX_CHALLENGE_BYTES + 1,
            max: MAX_CHALLENGE_BYTES
        }
    );
    headers.insert(CHALLENGE_HEADER, HeaderValue::from_static(""));
    assert_eq!(
        verification_challenge(&headers).unwrap_err(),
        ChallengeError::Empty
    );
}

#[tokio::test]
async fn r_hook_04_okta_subscribed_event_types_map_to_their_changes() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    let deprovisioned = [
        ("e-delete", "user.lifecycle.delete.initiated"),
        ("e-deactivate", "user.lifecycle.deactivate"),
    ];
    let restored = [
        ("e-unsuspend", "user.lifecycle.unsuspend"),
        ("e-reactivate", "user.lifecycle.reactivate"),
        ("e-activate", "user.lifecycle.activate"),
    ];
    let mut events = Vec::new();
    for (uuid, t) in deprovisioned
        .iter()
        .chain(&[("e-suspend", "user.lifecycle.suspend")])
        .chain(&restored)
    {
        events.push(event(uuid, t, vec![user("00u1")]));
    }
    events.push(event(
        "e-member",
        "group.user_membership.remove",
        vec![user("00u1"), group("00g1")],
    ));
    events.push(event(
        "e-group",
        "group.lifecycle.delete",
        vec![group("00g1")],
    ));
    events.push(event(
        "e-add",
        "group.user_membership.add",
        vec![user("00u1"), group("00g1")],
    ));
    events.push(event("e-session", "user.session.start", vec![user("00u1")]));
    let mut failed = event("e-failed", "user.lifecycle.deactivate", vec![user("00u2")]);
    failed["outcome"] = json!({"result": "FAILURE", "reason": "insufficient permissions"});
    events.push(failed);
    // The simulator fills uuid, published and outcome of an event that lacks them.
    events.push(json!({"eventType": "user.lifecycle.suspend", "target": [user("00u3")]}));

    let report = sim
        .send_okta_event_hook("acme", &rx.target(Some(SECRET)), events)
        .await
        .unwrap();
    assert!(report.delivered);
    let delivery = rx.single();
    assert_eq!(delivery.headers["authorization"], SECRET);
    let parsed = receive(&verifier(IdpKind::Okta, &[SECRET]), &delivery);
    assert_eq!(
        parsed.delivery_id.as_deref(),
        Some(report.message_id.as_str())
    );
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);

    let u1 = ExternalUserId::parse("id", "00u1").unwrap();
    let g1 = ExternalGroupId::parse("id", "00g1").unwrap();
    let got: Vec<(&str, EventEffect)> = parsed
        .events
        .iter()
        .map(|e| (e.provider_event_id.as_str(), e.effect()))
        .collect();
    assert_eq!(
        &got[..9],
        [
            ("e-delete", EventEffect::Deprovision),
            ("e-deactivate", EventEffect::Deprovision),
            ("e-suspend", EventEffect::Suspend),
            ("e-unsuspend", EventEffect::Reactivate),
            ("e-reactivate", EventEffect::Reactivate),
            ("e-activate", EventEffect::Reactivate),
            ("e-member", EventEffect::RemoveMembership),
            ("e-group", EventEffect::DeleteGroup),
            (got[8].0, EventEffect::Suspend),
        ]
    );
    assert_eq!(got.len(), 9);
    assert_eq!(
        parsed.events[0].change,
        InboundChange::Deprovision { user: u1.clone() }
    );
    assert_eq!(
        parsed.events[6].change,
        InboundChange::RemoveMembership {
            user: u1,
            group: g1.clone()
        }
    );
    assert_eq!(
        parsed.events[7].change,
        InboundChange::DeleteGroup { group: g1 }
    );
    assert_eq!(
        parsed.events[0].occurred_at.to_rfc3339(),
        "2025-03-01T12:00:01.234+00:00"
    );
    assert_eq!(parsed.events[8].change.user().unwrap().as_str(), "00u3");

    let ignored: Vec<(&str, &IgnoreReason)> = parsed
        .ignored
        .iter()
        .map(|i| (i.event_type.as_str(), &i.reason))
        .collect();
    assert_eq!(
        ignored,
        [
            ("group.user_membership.add", &IgnoreReason::NoEffect),
            ("user.session.start", &IgnoreReason::NoEffect),
            (
                "user.lifecycle.deactivate",
                &IgnoreReason::Unsuccessful {
                    outcome: "FAILURE".into()
                }
            ),
        ]
    );
}

#[tokio::test]
async fn r_hook_07_okta_authorization_must_match_verbatim() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    sim.send_okta_event_hook(
        "acme",
        &rx.target(Some(SECRET)),
        vec![event("e1", "user.lifecycle.suspend", vec![user("00u1")])],
    )
    .await
    .unwrap();
    let good = rx.single();
    let old = "okta-hook-previous-secret";
    let v = verifier(IdpKind::Okta, &[SECRET]);
    assert_eq!(receive(&v, &good).events.len(), 1);
    // Rotation: both values pass during the grace period, then only the new one.
    let old_delivery = good.with_header("authorization", Some(old));
    assert_eq!(
        receive(&verifier(IdpKind::Okta, &[SECRET, old]), &old_delivery)
            .events
            .len(),
        1
    );
    for (what, delivery, code) in [
        ("rotated out", old_delivery, "wrong_secret"),
        (
            "missing",
            good.with_header("authorization", None),
            "missing_header",
        ),
        (
            "with a Bearer prefix added",
            good.with_header("authorization", Some(&format!("Bearer {SECRET}"))),
            "wrong_secret",
        ),
        (
            "different case",
            good.with_header("authorization", Some(&SECRET.to_uppercase())),
            "wrong_secret",
        ),
        (
            "truncated",
            good.with_header("authorization", Some(&SECRET[..SECRET.len() - 1])),
            "wrong_secret",
        ),
    ] {
        let err = refusal(&v, &delivery, &[SECRET, old]);
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(err.code(), code, "{what}");
    }
    // A configured value that itself starts with "Bearer " is compared whole.
    let bearer = format!("Bearer {SECRET}");
    let with_bearer = good.with_header("authorization", Some(&bearer));
    assert_eq!(
        receive(&verifier(IdpKind::Okta, &[&bearer]), &with_bearer)
            .events
            .len(),
        1
    );
}

#[tokio::test]
async fn r_hook_08_okta_events_of_a_batch_are_read_one_by_one() {
    let sim = sim().await;
    let rx = Receiver::start().await;
    let mut no_published = event("e3", "user.lifecycle.suspend", vec![user("00u1")]);
    no_published["published"] = json!(12);
    sim.send_okta_event_hook(
        "acme",
        &rx.target(Some(SECRET)),
        vec![
            event("e1", "user.lifecycle.deactivate", vec![user("00u1")]),
            event("e2", "group.user_membership.remove", vec![user("00u1")]),
            no_published,
            event("e4", "group.lifecycle.delete", vec![user("00u1")]),
            json!({"uuid": "e5", "target": []}),
        ],
    )
    .await
    .unwrap();
    let v = verifier(IdpKind::Okta, &[SECRET]);
    let delivery = rx.single();
    let parsed = receive(&v, &delivery);
    assert_eq!(parsed.events.len(), 1);
    let rejected: Vec<(Option<&str>, &RecordError)> = parsed
        .rejected
        .iter()
        .map(|r| (r.provider_event_id.as_deref(), &r.error))
        .collect();
    assert_eq!(
        rejected,
        [
            (
                Some("e2"),
                &RecordError::MissingField {
                    field: "target[type=UserGroup].id"
                }
            ),
            (
                Some("e3"),
                &RecordError::MissingField { field: "published" }
            ),
            (
                Some("e4"),
                &RecordError::MissingField {
                    field: "target[type=UserGroup].id"
                }
            ),
            (
                Some("e5"),
                &RecordError::MissingField { field: "eventType" }
            ),
        ]
    );

    for (body, code) in [
        ("not json", "body_not_json"),
        ("[]", "body_wrong_shape"),
        ("{\"data\":{}}", "body_wrong_shape"),
        ("{\"data\":{\"events\":{}}}", "body_wrong_shape"),
        (
            "{\"eventType\":\"com.okta.event_hook\"}",
            "body_wrong_shape",
        ),
    ] {
        let err = refusal(&v, &delivery.with_body(body), &[SECRET]);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(err.code(), code, "{body}");
    }
}
