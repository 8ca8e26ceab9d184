//! The attack and failure table of R-OIDC-01: each is refused with a clear error, and no
//! session (result code or Wallet session) is created.

use alter_idp_sim::{Fault, TenantKind};
use serde_json::json;

use crate::browser::Browser;
use crate::support::{Harness, RETURN_URL, TestApp};

/// Starts a sign-in in `browser` and lets the identity provider answer: the callback URL
/// it redirects to, not yet opened.
async fn callback_url(browser: &mut Browser, app: &TestApp) -> url::Url {
    let (status, to_idp, _) = browser.step(&app.authorize("s")).await;
    assert_eq!(status, 302, "authorize redirects to the identity provider");
    let to_idp = to_idp.expect("location");
    assert!(to_idp.contains("code_challenge_method=S256"), "{to_idp}");
    let (status, back, _) = browser.step(&to_idp).await;
    assert!(
        (300..400).contains(&status),
        "the provider redirects back: {status}"
    );
    url::Url::parse(&back.expect("location")).expect("callback URL")
}

fn with_param(url: &url::Url, name: &str, value: Option<&str>) -> String {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    out.to_string()
}

async fn no_session(h: &Harness, app: &TestApp) {
    assert_eq!(
        h.rows("sign_in_sessions", app.id).await,
        0,
        "no session was created"
    );
}

#[tokio::test]
async fn r_oidc_01_a_tampered_or_missing_state_is_refused() {
    let h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta).await;
    let mut browser = h.browser();
    let back = callback_url(&mut browser, &app).await;
    let state = back
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();

    let tampered = browser
        .open(&with_param(&back, "state", Some(&format!("{state}x"))))
        .await;
    assert_eq!(
        (tampered.status, tampered.error().as_deref()),
        (400, Some("unknown_state"))
    );
    assert!(
        tampered.body.contains("start the sign-in again"),
        "{}",
        tampered.body
    );
    let missing = browser.open(&with_param(&back, "state", None)).await;
    assert_eq!(
        (missing.status, missing.error().as_deref()),
        (400, Some("missing_state"))
    );
    no_session(&h, &app).await;

    // Neither attempt touched the real flow: the genuine redirect still signs in.
    let genuine = browser.open(back.as_str()).await;
    assert!(genuine.param("code").is_some(), "{genuine:?}");
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_a_state_from_another_browser_is_refused_and_cancels_the_sign_in() {
    let h = Harness::start().await;
    let app = h.app("auth0", TenantKind::Auth0).await;
    let mut victim = h.browser();
    let back = callback_url(&mut victim, &app).await;
    let mut attacker = h.browser();
    let stolen = attacker.open(back.as_str()).await;
    assert_eq!(
        (stolen.status, stolen.error().as_deref()),
        (400, Some("browser_mismatch"))
    );
    assert!(!stolen.at_app(), "nothing is sent to the app's return URL");
    no_session(&h, &app).await;
    let afterwards = victim.open(back.as_str()).await;
    assert_eq!(
        afterwards.error().as_deref(),
        Some("unknown_state"),
        "{afterwards:?}"
    );
    no_session(&h, &app).await;
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_a_replayed_callback_and_a_replayed_result_code_are_refused() {
    let h = Harness::start().await;
    let app = h.app("clerk", TenantKind::Clerk).await;
    let mut browser = h.browser();
    let back = callback_url(&mut browser, &app).await;
    let first = browser.open(back.as_str()).await;
    let code = first.param("code").expect("signed in");
    assert_eq!(h.rows("sign_in_sessions", app.id).await, 1);

    let replayed = browser.open(back.as_str()).await;
    assert_eq!(
        (replayed.status, replayed.error().as_deref()),
        (400, Some("unknown_state"))
    );
    assert_eq!(
        h.rows("sign_in_sessions", app.id).await,
        1,
        "no second session"
    );

    h.redeem(app.id, &code).await.expect("first redeem");
    let again = h.redeem(app.id, &code).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::Unauthenticated);
    let other_app = h.app("okta", TenantKind::Okta).await;
    let elsewhere = h.redeem(other_app.id, &code).await.unwrap_err();
    assert_eq!(elsewhere.code(), tonic::Code::Unauthenticated);
    no_session(&h, &app).await;
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_an_id_token_with_another_nonce_is_refused() {
    let h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta).await;
    let mut browser = h.browser();
    let (_, to_idp, _) = browser.step(&app.authorize("s")).await;
    // The authorization request as an attacker replays it with their own nonce.
    let to_idp = url::Url::parse(&to_idp.unwrap()).unwrap();
    let forged = with_param(&to_idp, "nonce", Some("attacker-nonce"));
    let visit = browser.open(&forged).await;
    assert!(visit.at_app(), "{visit:?}");
    assert_eq!(visit.param("error").as_deref(), Some("invalid_id_token"));
    assert!(visit.param("error_description").unwrap().contains("nonce"));
    assert_eq!(visit.param("code"), None);
    no_session(&h, &app).await;
    h.stop().await;
}

async fn refused_with_claims(kind: TenantKind, claims: serde_json::Value, says: &str) {
    let h = Harness::start().await;
    let app = h.app("t", kind).await;
    let serde_json::Value::Object(claims) = claims else {
        panic!("claims")
    };
    h.sim
        .inject_fault("t", Fault::IdTokenClaims { claims, count: 1 })
        .unwrap();
    let visit = h.browser().open(&app.authorize("s")).await;
    assert_eq!(
        visit.param("error").as_deref(),
        Some("invalid_id_token"),
        "{visit:?}"
    );
    let description = visit.param("error_description").unwrap();
    assert!(description.contains(says), "{description}");
    no_session(&h, &app).await;
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_an_id_token_for_another_audience_is_refused() {
    refused_with_claims(
        TenantKind::Auth0,
        json!({"aud": "another-client"}),
        "audience",
    )
    .await;
}

#[tokio::test]
async fn r_oidc_01_an_expired_id_token_is_refused() {
    let past = chrono::Utc::now().timestamp() - 3600;
    refused_with_claims(
        TenantKind::Oidc,
        json!({"exp": past, "iat": past - 60}),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn r_oidc_01_an_id_token_for_another_authorized_party_is_refused() {
    refused_with_claims(TenantKind::Okta, json!({"azp": "another-client"}), "azp").await;
}

#[tokio::test]
async fn r_oidc_01_an_iss_parameter_of_another_issuer_is_refused() {
    let h = Harness::start().await;
    // Plain OIDC advertises RFC 9207: its response carries iss, and one without it fails too.
    let app = h.app("oidc", TenantKind::Oidc).await;
    let mut browser = h.browser();
    let back = callback_url(&mut browser, &app).await;
    assert_eq!(
        back.query_pairs()
            .find(|(k, _)| k == "iss")
            .map(|(_, v)| v.into_owned()),
        Some(app.issuer.clone())
    );
    let mixed_up = browser
        .open(&with_param(&back, "iss", Some("https://evil.example")))
        .await;
    assert_eq!(
        mixed_up.param("error").as_deref(),
        Some("wrong_issuer"),
        "{mixed_up:?}"
    );
    no_session(&h, &app).await;

    let back = callback_url(&mut browser, &app).await;
    let stripped = browser.open(&with_param(&back, "iss", None)).await;
    assert_eq!(stripped.param("error").as_deref(), Some("missing_issuer"));
    no_session(&h, &app).await;
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_a_return_url_off_the_allow_list_is_refused_without_a_redirect() {
    let h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta).await;
    let mut browser = h.browser();
    for evil in [
        "https://evil.test/steal",
        "https://app.test/signed-in/../../evil",
        "https://app.test/signed-in?x=1",
        "https://app.test.evil.test/signed-in",
        "//evil.test/signed-in",
    ] {
        let mut url = url::Url::parse(&app.urls.authorize_url).unwrap();
        url.query_pairs_mut().append_pair("return_to", evil);
        let (status, location, headers) = browser.step(url.as_str()).await;
        assert_eq!(status, 400, "{evil}");
        assert_eq!(location, None, "no redirect anywhere for {evil}");
        assert_eq!(
            headers.get("x-alter-error").and_then(|v| v.to_str().ok()),
            Some("return_to_not_allowed")
        );
    }
    assert!(browser.alter_cookies().is_empty(), "no flow cookie");
    assert_eq!(h.rows("sign_in_flows", app.id).await, 0, "no flow stored");
    assert_eq!(h.sim.counters("okta").unwrap().codes_issued, 0);
    let _ = RETURN_URL;
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_an_identity_provider_error_redirect_is_refused() {
    let h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta).await;
    // The provider refuses its suspended user and redirects back with an error.
    h.sim
        .set_user_status("okta", &app.user.id, alter_idp_sim::UserStatus::Suspended)
        .unwrap();
    let visit = h.browser().open(&app.authorize("s")).await;
    assert!(visit.at_app(), "{visit:?}");
    assert_eq!(visit.param("error").as_deref(), Some("idp_error"));
    let description = visit.param("error_description").unwrap();
    assert!(description.contains("refused the sign-in"), "{description}");
    assert!(
        description.contains("access_denied"),
        "the provider's error: {description}"
    );
    assert_eq!(visit.param("state").as_deref(), Some("s"));
    no_session(&h, &app).await;
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_the_flow_cookie_is_host_only_http_only_secure_and_lax() {
    let h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta).await;
    let mut browser = h.browser();
    let (_, _, headers) = browser.step(&app.authorize("s")).await;
    let set_cookie = headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        set_cookie.starts_with("__Host-alter-signin-"),
        "{set_cookie}"
    );
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    assert_eq!(
        headers.get("referrer-policy").and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let cookie = &browser.alter_cookies()[0];
    assert!(cookie.http_only && cookie.secure);
    h.stop().await;
}
