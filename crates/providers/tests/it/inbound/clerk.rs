//! Clerk webhooks via Svix (R-HOOK-03): signed by the simulator's sender, with payloads
//! taken from the simulator's own Backend API.

use alter_core::{ExternalGroupId, ExternalUserId, IdpKind, LifecycleKind};
use alter_idp_sim::{IdpSim, NewGroup, NewUser, TenantKind, TenantOptions, svix_signature};
use alter_providers::inbound::svix::{TIMESTAMP_TOLERANCE_SECS, verify};
use alter_providers::inbound::{AuthError, IgnoreReason, RecordError, parse_svix_secret};
use alter_providers::{InboundChange, InboundRequest, ParsedDelivery, parse_delivery};
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{Delivery, Receiver, receive, refusal, verifier};

/// The Svix test vector of the wire-format reference (§3.7).
const VECTOR_SECRET: &str = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const VECTOR_SECOND: &str = "whsec_qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const VECTOR_ID: &str = "msg_2fakeTestVector0000000001";
const VECTOR_TS: i64 = 1_700_000_000;
const VECTOR_BODY: &str = r#"{"type":"user.deleted","object":"event","data":{"id":"user_2fake","object":"user","deleted":true}}"#;
const VECTOR_SIG: &str = "v1,a696llH9/U32cMsMouAH9BL+DJE/3oyVfme7yDzy8Hk=";
const VECTOR_SIG_SECOND: &str = "v1,mlkffG4UD494caykmrRTbhTIXuWY4RFOkUyivZCIt8Q=";

/// A third secret that signs nothing here.
const OTHER: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Clerk {
    sim: IdpSim,
    secret: String,
    base_url: String,
    rx: Receiver,
}

impl Clerk {
    async fn start() -> Self {
        let sim = IdpSim::start().await.unwrap();
        let info = sim
            .create_tenant("acme", TenantKind::Clerk, TenantOptions::default())
            .unwrap();
        Self {
            sim,
            secret: info.webhook_secret.unwrap(),
            base_url: info.base_url,
            rx: Receiver::start().await,
        }
    }

    /// Sends one webhook signed with the tenant's secret and `extra` ones; returns what
    /// arrived.
    async fn send(&self, event_type: &str, data: Value, extra: &[String]) -> Delivery {
        let report = self
            .sim
            .send_clerk_webhook("acme", &self.rx.target(None), event_type, data, extra)
            .await
            .unwrap();
        assert!(report.delivered, "{report:?}");
        let delivery = self.rx.single();
        assert_eq!(delivery.headers["svix-id"], report.message_id.as_str());
        delivery
    }

    /// `GET <base>/v1/<path>` on the simulator's Clerk Backend API.
    async fn backend(&self, key: &str, path: &str) -> Value {
        reqwest::Client::new()
            .get(format!("{}/v1/{path}", self.base_url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn vector_headers(ts: i64, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("svix-id", VECTOR_ID.parse().unwrap());
    h.insert("svix-timestamp", ts.to_string().parse().unwrap());
    h.insert("svix-signature", signature.parse().unwrap());
    h
}

fn at(ts: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap()
}

#[test]
fn r_hook_03_svix_reference_test_vector_verifies_under_either_rotation_secret() {
    let both = format!("{VECTOR_SIG} {VECTOR_SIG_SECOND}");
    let headers = vector_headers(VECTOR_TS, &both);
    let request = InboundRequest::new(&headers, VECTOR_BODY.as_bytes(), at(VECTOR_TS));
    for secret in [VECTOR_SECRET, VECTOR_SECOND] {
        verify(&request, &[parse_svix_secret(secret).unwrap()]).unwrap();
    }
    let headers = vector_headers(VECTOR_TS, VECTOR_SIG_SECOND);
    let request = InboundRequest::new(&headers, VECTOR_BODY.as_bytes(), at(VECTOR_TS));
    assert_eq!(
        verify(&request, &[parse_svix_secret(VECTOR_SECRET).unwrap()]).unwrap_err(),
        AuthError::SignatureMismatch { v1_signatures: 1 }
    );
    let parsed = parse_delivery(IdpKind::Clerk, &request).unwrap();
    assert_eq!(parsed.delivery_id.as_deref(), Some(VECTOR_ID));
    // The vector's envelope has no timestamp: authentic, but not actionable.
    assert_eq!(
        parsed.rejected[0].error,
        RecordError::MissingField { field: "timestamp" }
    );
}

#[test]
fn r_hook_03_timestamps_within_five_minutes_either_way_pass_and_beyond_are_refused() {
    let headers = vector_headers(VECTOR_TS, VECTOR_SIG);
    let keys = [parse_svix_secret(VECTOR_SECRET).unwrap()];
    let check = |received: i64| {
        verify(
            &InboundRequest::new(&headers, VECTOR_BODY.as_bytes(), at(received)),
            &keys,
        )
    };
    let tolerance = TIMESTAMP_TOLERANCE_SECS;
    assert_eq!(tolerance, 300);
    check(VECTOR_TS + tolerance).unwrap();
    check(VECTOR_TS - tolerance).unwrap();
    assert_eq!(
        check(VECTOR_TS + tolerance + 1).unwrap_err(),
        AuthError::TimestampStale { seconds: 301 }
    );
    assert_eq!(
        check(VECTOR_TS - tolerance - 1).unwrap_err(),
        AuthError::TimestampInFuture { seconds: 301 }
    );
    let stale = check(VECTOR_TS + 3600).unwrap_err();
    assert_eq!(stale.code(), "timestamp_stale");
    assert!(stale.to_string().contains("3600 s before"), "{stale}");
}

#[tokio::test]
async fn r_hook_03_clerk_subscribed_events_from_the_simulator_map_to_their_changes() {
    let clerk = Clerk::start().await;
    let sim = &clerk.sim;
    let user = sim
        .add_user(
            "acme",
            NewUser {
                email: Some("dana@example.com".into()),
                first_name: Some("Dana".into()),
                last_name: Some("Quinn".into()),
                ..NewUser::default()
            },
        )
        .unwrap();
    let org = sim
        .add_group(
            "acme",
            NewGroup {
                name: Some("Acme Finance".into()),
                ..NewGroup::default()
            },
        )
        .unwrap();
    sim.add_membership("acme", &org.id, &user.id, None).unwrap();
    let key = sim.register_clerk_secret_key("acme").unwrap();
    let user_json = clerk.backend(&key, &format!("users/{}", user.id)).await;
    let memberships = clerk
        .backend(&key, &format!("users/{}/organization_memberships", user.id))
        .await;
    let membership_json = memberships["data"][0].clone();
    let v = verifier(IdpKind::Clerk, &[&clerk.secret]);
    let external_user = ExternalUserId::parse("id", &user.id).unwrap();
    let external_org = ExternalGroupId::parse("id", &org.id).unwrap();

    let updated = receive(
        &v,
        &clerk.send("user.updated", user_json.clone(), &[]).await,
    );
    assert_eq!(updated.events.len(), 1);
    assert_eq!(
        updated.events[0].change,
        InboundChange::UpdateProfile {
            user: external_user.clone(),
            email: Some("dana@example.com".into()),
            display_name: Some("Dana Quinn".into()),
        }
    );

    let removed = receive(
        &v,
        &clerk
            .send("organizationMembership.deleted", membership_json, &[])
            .await,
    );
    assert_eq!(
        removed.events[0].change,
        InboundChange::RemoveMembership {
            user: external_user.clone(),
            group: external_org.clone(),
        }
    );

    let org_deleted = receive(
        &v,
        &clerk
            .send(
                "organization.deleted",
                json!({"object": "organization", "id": org.id, "slug": org.slug, "deleted": true}),
                &[],
            )
            .await,
    );
    assert_eq!(
        org_deleted.events[0].change,
        InboundChange::DeleteGroup {
            group: external_org
        }
    );

    let delivery = clerk
        .send(
            "user.deleted",
            json!({"object": "user", "id": user.id, "deleted": true}),
            &[],
        )
        .await;
    let deleted = receive(&v, &delivery);
    let event = &deleted.events[0];
    assert_eq!(
        event.change,
        InboundChange::Deprovision {
            user: external_user
        }
    );
    // Named by the Svix message ID; timed by the envelope's millisecond timestamp.
    let svix_id = delivery.headers["svix-id"].to_str().unwrap();
    assert_eq!(event.provider_event_id, svix_id);
    assert_eq!(deleted.delivery_id.as_deref(), Some(svix_id));
    let envelope: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(
        event.occurred_at.timestamp_millis(),
        envelope["timestamp"].as_i64().unwrap()
    );
    assert!((delivery.received_at - event.occurred_at).abs() < Duration::seconds(5));
    let app = super::app();
    let lifecycle = event.to_lifecycle(app);
    assert_eq!(lifecycle.provider_event_id.as_deref(), Some(svix_id));
    assert!(matches!(
        lifecycle.kind,
        LifecycleKind::UserDeprovisioned { .. }
    ));

    // Other types are acknowledged and ignored, whatever their data.
    for (event_type, data) in [
        ("user.created", user_json),
        (
            "session.created",
            json!({"id": "sess_1", "user_id": user.id}),
        ),
        (
            "organizationMembership.created",
            memberships["data"][0].clone(),
        ),
        ("email.created", json!({})),
    ] {
        let parsed = receive(&v, &clerk.send(event_type, data, &[]).await);
        assert!(
            parsed.events.is_empty() && parsed.rejected.is_empty(),
            "{event_type}"
        );
        assert_eq!(parsed.ignored[0].event_type, event_type);
        assert_eq!(parsed.ignored[0].reason, IgnoreReason::NoEffect);
    }
}

#[tokio::test]
async fn r_hook_03_clerk_user_updated_without_primary_email_or_names_clears_them() {
    let clerk = Clerk::start().await;
    let v = verifier(IdpKind::Clerk, &[&clerk.secret]);
    let data = json!({
        "object": "user", "id": "user_2q3Wm9dFakeUserId00000000", "first_name": null,
        "last_name": "  ", "primary_email_address_id": null,
        "email_addresses": [{"id": "idn_1", "email_address": "old@example.com"}],
    });
    let parsed = receive(&v, &clerk.send("user.updated", data, &[]).await);
    assert!(matches!(
        &parsed.events[0].change,
        InboundChange::UpdateProfile {
            email: None,
            display_name: None,
            ..
        }
    ));
    // The primary email is the element named by primary_email_address_id, not the first.
    let data = json!({
        "object": "user", "id": "user_2", "first_name": "Ada", "last_name": null,
        "primary_email_address_id": "idn_b",
        "email_addresses": [{"id": "idn_a", "email_address": "a@example.com"},
                            {"id": "idn_b", "email_address": "b@example.com"}],
    });
    let parsed = receive(&v, &clerk.send("user.updated", data, &[]).await);
    assert!(matches!(
        &parsed.events[0].change,
        InboundChange::UpdateProfile { email: Some(e), display_name: Some(n), .. }
            if e == "b@example.com" && n == "Ada"
    ));
}

#[tokio::test]
async fn r_hook_03_during_rotation_either_signature_verifies() {
    let clerk = Clerk::start().await;
    let delivery = clerk
        .send(
            "user.deleted",
            json!({"object": "user", "id": "user_1", "deleted": true}),
            &[VECTOR_SECOND.to_owned()],
        )
        .await;
    let header = delivery.headers["svix-signature"].to_str().unwrap();
    assert_eq!(header.split(' ').count(), 2, "{header}");
    // Old secret only, new secret only, both: each passes.
    for secrets in [
        vec![clerk.secret.as_str()],
        vec![VECTOR_SECOND],
        vec![VECTOR_SECOND, clerk.secret.as_str()],
        vec![OTHER, VECTOR_SECOND],
    ] {
        let parsed = receive(&verifier(IdpKind::Clerk, &secrets), &delivery);
        assert_eq!(parsed.events.len(), 1);
    }
    // A secret rotated out (neither of the two that signed) is refused.
    let err = refusal(&verifier(IdpKind::Clerk, &[OTHER]), &delivery, &[OTHER]);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        err,
        AuthError::SignatureMismatch { v1_signatures: 2 }.into()
    );
}

#[tokio::test]
async fn r_hook_07_clerk_bad_signatures_headers_and_timestamps_are_401_with_their_reason() {
    let clerk = Clerk::start().await;
    let secret = clerk.secret.clone();
    let v = verifier(IdpKind::Clerk, &[&secret]);
    let good = clerk
        .send(
            "user.deleted",
            json!({"object": "user", "id": "user_1", "deleted": true}),
            &[],
        )
        .await;
    assert_eq!(receive(&v, &good).events.len(), 1);
    let sig = good.headers["svix-signature"].to_str().unwrap().to_owned();
    let b64 = sig.strip_prefix("v1,").unwrap();
    let mut flipped = b64.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = format!("v1,{}", String::from_utf8(flipped).unwrap());
    let ts: i64 = good.headers["svix-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body_text = String::from_utf8(good.body.clone()).unwrap();
    let reserialised =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body_text).unwrap()).unwrap();

    let cases: Vec<(&str, Delivery, &str)> = vec![
        (
            "no svix-id",
            good.with_header("svix-id", None),
            "missing_header",
        ),
        (
            "no svix-timestamp",
            good.with_header("svix-timestamp", None),
            "missing_header",
        ),
        (
            "no svix-signature",
            good.with_header("svix-signature", None),
            "missing_header",
        ),
        (
            "empty signature",
            good.with_header("svix-signature", Some("")),
            "malformed_header",
        ),
        (
            "wrong signature",
            good.with_header("svix-signature", Some(&flipped)),
            "signature_mismatch",
        ),
        (
            "truncated signature",
            good.with_header("svix-signature", Some(&sig[..sig.len() - 8])),
            "malformed_header",
        ),
        (
            "no version",
            good.with_header("svix-signature", Some(b64)),
            "malformed_header",
        ),
        (
            "only other versions",
            good.with_header("svix-signature", Some(&format!("v1a,{b64} v2,{b64}"))),
            "no_v1_signature",
        ),
        (
            "another message's id",
            good.with_header("svix-id", Some("msg_2other")),
            "signature_mismatch",
        ),
        (
            "a later timestamp on the same signature",
            good.with_header("svix-timestamp", Some(&(ts + 1).to_string())),
            "signature_mismatch",
        ),
        (
            "timestamp not a number",
            good.with_header("svix-timestamp", Some("soon")),
            "malformed_header",
        ),
        (
            "timestamp in milliseconds",
            good.with_header("svix-timestamp", Some(&(ts * 1000).to_string())),
            "timestamp_in_future",
        ),
        (
            "body re-serialised",
            good.with_body(reserialised),
            "signature_mismatch",
        ),
        (
            "body with one byte changed",
            good.with_body(body_text.replace("user_1", "user_2")),
            "signature_mismatch",
        ),
    ];
    for (what, delivery, code) in cases {
        let err = refusal(&v, &delivery, &[&secret]);
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED, "{what}: {err}");
        assert_eq!(err.code(), code, "{what}: {err}");
    }

    let mut repeated = good.clone();
    repeated
        .headers
        .append("svix-signature", sig.parse().unwrap());
    assert_eq!(refusal(&v, &repeated, &[]).code(), "repeated_header");

    // Stale and future deliveries, as the simulator signs them with its clock moved.
    clerk.sim.advance_clock(-(TIMESTAMP_TOLERANCE_SECS + 60));
    let stale = clerk
        .send("user.deleted", json!({"id": "user_1"}), &[])
        .await;
    let err = refusal(&v, &stale, &[&secret]);
    assert!(
        matches!(err, alter_providers::InboundError::Unauthenticated(AuthError::TimestampStale { seconds }) if (359..=362).contains(&seconds)),
        "{err:?}"
    );
    clerk.sim.advance_clock(2 * (TIMESTAMP_TOLERANCE_SECS + 60));
    let future = clerk
        .send("user.deleted", json!({"id": "user_1"}), &[])
        .await;
    let err = refusal(&v, &future, &[&secret]);
    assert!(
        matches!(err, alter_providers::InboundError::Unauthenticated(AuthError::TimestampInFuture { seconds }) if (358..=361).contains(&seconds)),
        "{err:?}"
    );
    assert!(err.to_string().contains("in the future"), "{err}");
}

#[tokio::test]
async fn r_hook_07_clerk_authentic_bodies_not_in_the_envelope_format_are_400() {
    let clerk = Clerk::start().await;
    let v = verifier(IdpKind::Clerk, &[&clerk.secret]);
    let good = clerk
        .send("user.deleted", json!({"id": "user_1"}), &[])
        .await;
    let id = good.headers["svix-id"].to_str().unwrap().to_owned();
    let ts: i64 = good.headers["svix-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Signed correctly (with the simulator's signer), so only the body is at fault.
    let signed = |body: &str| {
        let sig = svix_signature(&clerk.secret, &id, ts, body.as_bytes()).unwrap();
        good.with_body(body)
            .with_header("svix-signature", Some(&sig))
    };
    for (body, code) in [
        ("", "body_not_json"),
        ("{\"type\":", "body_not_json"),
        ("[]", "body_wrong_shape"),
        ("{\"object\":\"event\",\"data\":{}}", "body_wrong_shape"),
        ("{\"type\":7}", "body_wrong_shape"),
    ] {
        let err = refusal(&v, &signed(body), &[&clerk.secret]);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(err.code(), code, "{body:?}");
    }
    // An envelope of a type we act on, lacking what it needs: kept as rejected (R-HOOK-08).
    for (body, field) in [
        (
            r#"{"type":"user.deleted","timestamp":1760000000123,"data":{"object":"user"}}"#,
            "data.id",
        ),
        (
            r#"{"type":"user.deleted","timestamp":1760000000123}"#,
            "data",
        ),
        (
            r#"{"type":"organizationMembership.deleted","timestamp":1760000000123,"data":{"organization":{"id":"org_1"}}}"#,
            "data.public_user_data",
        ),
        (
            r#"{"type":"organizationMembership.deleted","timestamp":1760000000123,"data":{"organization":{},"public_user_data":{"user_id":"user_1"}}}"#,
            "data.organization.id",
        ),
    ] {
        let parsed: ParsedDelivery = receive(&v, &signed(body));
        assert!(parsed.events.is_empty());
        assert_eq!(
            parsed.rejected[0].error,
            RecordError::MissingField { field },
            "{body}"
        );
        assert_eq!(
            parsed.rejected[0].provider_event_id.as_deref(),
            Some(id.as_str())
        );
    }
    let parsed = receive(
        &v,
        &signed(r#"{"type":"user.deleted","timestamp":1760000000123,"data":{"id":"user\u0000x"}}"#),
    );
    assert_eq!(parsed.rejected[0].error.code(), "invalid_field");
}
