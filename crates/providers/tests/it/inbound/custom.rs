//! Custom OIDC webhooks (R-HOOK-05): the format documented in docs/webhooks-custom-oidc.md,
//! checked against the page itself so the two cannot drift apart.

use alter_core::{EventEffect, IdpKind};
use alter_providers::InboundChange;
use chrono::Utc;
use http::{HeaderMap, StatusCode};

use super::{Delivery, receive, refusal, verifier};

const SECRET: &str = "alt_whk_Zt0m3vQ9kX2pL7cN4bR8sW1yH6gF5dJ3aE0uI9oT2qM";
const PAGE: &str = include_str!("../../../../../docs/webhooks-custom-oidc.md");

/// The page's code blocks of `lang`, in order.
fn blocks(lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    PAGE.split(&fence)
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap().to_owned())
        .collect()
}

fn delivery(authorization: Option<&str>, body: &str) -> Delivery {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    if let Some(a) = authorization {
        headers.insert("authorization", a.parse().unwrap());
    }
    Delivery {
        method: http::Method::POST,
        headers,
        body: body.as_bytes().to_vec(),
        received_at: Utc::now(),
    }
}

#[test]
fn r_hook_05_the_documented_example_parses_to_the_documented_effects() {
    let example = &blocks("json")[0];
    let parsed = receive(
        &verifier(IdpKind::CustomOidc, &[SECRET]),
        &delivery(Some(&format!("Bearer {SECRET}")), example),
    );
    assert!(parsed.rejected.is_empty() && parsed.ignored.is_empty());
    let effects: Vec<EventEffect> = parsed.events.iter().map(|e| e.effect()).collect();
    assert_eq!(
        effects,
        [
            EventEffect::Deprovision,
            EventEffect::UpdateProfile,
            EventEffect::RemoveMembership,
            EventEffect::DeleteGroup
        ]
    );
    assert!(matches!(
        &parsed.events[1].change,
        InboundChange::UpdateProfile { email: Some(e), display_name: Some(n), .. }
            if e == "dana@example.com" && n == "Dana Quinn"
    ));
    assert_eq!(parsed.events[1].occurred_at.timestamp_millis() % 1000, 250);
    // Every type in the page's table is one the parser acts on.
    for row in PAGE.lines().filter(|l| {
        l.starts_with("| `user.") || l.starts_with("| `membership.") || l.starts_with("| `group.")
    }) {
        let event_type = row.split('`').nth(1).unwrap();
        assert_ne!(
            alter_core::provider_events::custom_oidc_event_effect(event_type),
            EventEffect::Ignore,
            "{row}"
        );
    }
}

#[test]
fn r_hook_05_the_documented_curl_body_is_accepted() {
    let script = &blocks("sh")[0];
    assert!(script.contains("-H \"Authorization: Bearer $SECRET\""));
    let body = script
        .split("<<'EOF'\n")
        .nth(1)
        .and_then(|rest| rest.split("\nEOF").next())
        .unwrap();
    let parsed = receive(
        &verifier(IdpKind::CustomOidc, &[SECRET]),
        &delivery(Some(&format!("Bearer {SECRET}")), body),
    );
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(parsed.events[0].provider_event_id, "evt_try_1");
    assert_eq!(parsed.events[0].effect(), EventEffect::Suspend);
}

#[test]
fn r_hook_05_custom_secret_bare_or_bearer_and_refusals() {
    let body = r#"{"events":[{"id":"e1","type":"user.suspended","occurred_at":"2025-03-01T12:00:00Z","user_id":"u1"}]}"#;
    let v = verifier(IdpKind::CustomOidc, &[SECRET]);
    for auth in [
        SECRET.to_owned(),
        format!("Bearer {SECRET}"),
        format!("bearer  {SECRET}"),
    ] {
        assert_eq!(
            receive(&v, &delivery(Some(&auth), body)).events.len(),
            1,
            "{auth}"
        );
    }
    for (auth, code) in [
        (None, "missing_header"),
        (Some("Bearer alt_whk_wrong".to_owned()), "wrong_secret"),
        (Some(format!("Basic {SECRET}")), "wrong_secret"),
    ] {
        let err = refusal(&v, &delivery(auth.as_deref(), body), &[SECRET]);
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(err.code(), code);
    }
    for (bad, code) in [
        ("{\"events\":", "body_not_json"),
        ("{\"event\":[]}", "body_wrong_shape"),
    ] {
        let err = refusal(&v, &delivery(Some(SECRET), bad), &[SECRET]);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.code(), code);
    }
}
