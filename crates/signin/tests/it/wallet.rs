//! The Wallet (R-OIDC-01): a sign-in through the Wallet's own redirect URI ends with a
//! Wallet session in this browser; its page shows the user with their grants and refuses a
//! user suspended since; logout ends the session and goes to the identity provider's
//! end-session endpoint with `id_token_hint` when it has one, else straight to the Wallet's
//! logged-out page.

use alter_core::UserStatus;
use alter_idp_sim::TenantKind;

use crate::support::Harness;

#[tokio::test]
async fn r_oidc_01_the_wallet_signs_in_shows_the_user_and_logs_out_at_the_provider() {
    let h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta).await;
    let user = h.provision(&app).await;
    let grant = h.grant(app.id, user, "vault://ada").await;
    let mut browser = h.browser();
    let page = browser.open(&app.urls.wallet_login_url).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.url.path().ends_with("/wallet"), "{}", page.url);
    let shown: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(shown["user"]["external_id"], app.user.id.as_str());
    assert_eq!(shown["grants"][0]["id"], grant.as_str());
    let session = browser
        .alter_cookies()
        .into_iter()
        .find(|c| c.name.starts_with("__Host-alter-wallet-"))
        .expect("a Wallet session cookie")
        .clone();
    assert!(session.http_only && session.secure);

    // Another browser has no session.
    let other = h.browser().open(page.url.as_str()).await;
    assert_eq!(other.status, 401);

    // Suspended since: the Wallet refuses at once.
    h.set_status(app.id, user, UserStatus::Suspended).await;
    let refused = browser.open(page.url.as_str()).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("user_suspended"), "{}", refused.body);
    h.set_status(app.id, user, UserStatus::Active).await;

    // Logout: to the provider's end-session endpoint, which returns to our logged-out page.
    let wallet_logout = page.url.as_str().replace("/wallet", "/wallet/logout");
    let out = browser
        .navigate(reqwest::Method::POST, &wallet_logout)
        .await;
    assert!(
        out.hops
            .iter()
            .any(|hop| hop.contains("/v1/logout?") && hop.contains("id_token_hint=")),
        "through Okta's end-session endpoint: {:?}",
        out.hops
    );
    assert_eq!(out.url.as_str(), app.urls.wallet_logout_url);
    assert_eq!(out.status, 200);
    assert!(
        browser
            .alter_cookies()
            .iter()
            .all(|c| !c.name.starts_with("__Host-alter-wallet-")),
        "the session cookie is cleared"
    );
    assert_eq!(
        h.rows("sign_in_sessions", app.id).await,
        0,
        "the session is gone"
    );
    let after = browser.open(page.url.as_str()).await;
    assert_eq!(after.status, 401);
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_a_provider_without_end_session_logs_the_wallet_out_locally() {
    let h = Harness::start().await;
    // Clerk has no end_session_endpoint.
    let app = h.app("clerk", TenantKind::Clerk).await;
    let mut browser = h.browser();
    let page = browser.open(&app.urls.wallet_login_url).await;
    assert_eq!(page.status, 200, "{page:?}");
    let wallet_logout = page.url.as_str().replace("/wallet", "/wallet/logout");
    let out = browser
        .navigate(reqwest::Method::POST, &wallet_logout)
        .await;
    assert_eq!(
        out.hops.len(),
        2,
        "straight to the logged-out page: {:?}",
        out.hops
    );
    assert_eq!(out.url.as_str(), app.urls.wallet_logout_url);
    assert_eq!(h.rows("sign_in_sessions", app.id).await, 0);
    // Logout is a POST: a cross-site GET (a link, an image) cannot sign anyone out.
    let get = browser.open(&wallet_logout).await;
    assert_eq!(get.status, 405);
    h.stop().await;
}
