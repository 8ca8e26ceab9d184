//! R-OIDC-01 end to end, for every provider kind: a browser follows the app's sign-in link
//! through the identity provider and back, lands on the app's return URL with a result code,
//! and the app's backend redeems it for the user with their groups and grants; the code is
//! single use; a user suspended or deprovisioned is refused at the callback and at redeem.

use alter_core::{Principal, UserStatus};
use alter_idp_sim::TenantKind;
use alter_jwt_verifier::refusal_of;
use alter_proto::identity::v1::RefusalReason;
use alter_store::GrantStore;

use crate::support::{Harness, RETURN_URL};

async fn signs_in_and_redeems(kind: TenantKind, tenant: &str) {
    let h = Harness::start().await;
    let app = h.app(tenant, kind).await;
    let user = h.provision(&app).await;
    let grant = h.grant(app.id, user, "vault://ada").await;
    let system = h
        .store()
        .create_grant(
            app.id,
            &alter_store::NewGrant {
                credential_ref: "vault://app".into(),
                principal: Principal::System,
                expires_at: None,
            },
        )
        .await
        .unwrap()
        .id
        .to_string();
    h.sim
        .add_group(
            tenant,
            alter_idp_sim::NewGroup {
                name: Some("engineering".into()),
                ..Default::default()
            },
        )
        .ok()
        .map(|g| h.sim.add_membership(tenant, &g.id, &app.user.id, None));

    let mut browser = h.browser();
    let visit = browser.open(&app.authorize("app-state-1")).await;
    assert!(visit.at_app(), "lands on the app: {visit:?}");
    assert!(visit.url.as_str().starts_with(RETURN_URL), "{}", visit.url);
    assert_eq!(visit.param("state").as_deref(), Some("app-state-1"));
    assert_eq!(visit.param("error"), None, "{visit:?}");
    let code = visit.param("code").expect("a result code");
    // Through the identity provider's authorize endpoint and our callback.
    assert!(
        visit.hops.iter().any(|h| h.contains("/callback?")),
        "{:?}",
        visit.hops
    );
    assert!(
        browser.alter_cookies().is_empty(),
        "the flow cookie is cleared at the callback: {:?}",
        browser.alter_cookies()
    );
    assert_eq!(
        h.rows("sign_in_flows", app.id).await,
        0,
        "the flow was taken"
    );
    assert_eq!(h.sim.counters(tenant).unwrap().codes_redeemed, 1);

    let redeemed = h.redeem(app.id, &code).await.expect("redeem");
    assert_eq!(redeemed.return_url, RETURN_URL);
    assert!(!redeemed.id_token.is_empty() && !redeemed.access_token.is_empty());
    let identity = redeemed.identity.expect("identity");
    let signed_in = identity.user.expect("user");
    assert_eq!(signed_in.external_id, app.user.id);
    assert_eq!(
        signed_in.id,
        user.to_string(),
        "the provisioned user, not a new one"
    );
    let mut grants: Vec<String> = identity.grants.iter().map(|g| g.id.clone()).collect();
    grants.sort();
    let mut expected = vec![grant, system];
    expected.sort();
    assert_eq!(
        grants, expected,
        "the user's grants, as Verify answers them"
    );
    if matches!(kind, TenantKind::Okta | TenantKind::Oidc) {
        let groups: Vec<_> = identity
            .groups
            .iter()
            .map(|g| g.external_id.as_str())
            .collect();
        assert_eq!(
            groups,
            ["engineering"],
            "memberships from the ID token's group claim"
        );
    }

    let again = h.redeem(app.id, &code).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::Unauthenticated, "{again:?}");
    assert!(
        again.message().contains("already redeemed"),
        "{}",
        again.message()
    );
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_okta_sign_in_ends_with_the_user_and_their_grants() {
    signs_in_and_redeems(TenantKind::Okta, "okta").await;
}

#[tokio::test]
async fn r_oidc_01_auth0_sign_in_ends_with_the_user_and_their_grants() {
    signs_in_and_redeems(TenantKind::Auth0, "auth0").await;
}

#[tokio::test]
async fn r_oidc_01_clerk_sign_in_ends_with_the_user_and_their_grants() {
    signs_in_and_redeems(TenantKind::Clerk, "clerk").await;
}

#[tokio::test]
async fn r_oidc_01_custom_oidc_sign_in_ends_with_the_user_and_their_grants() {
    signs_in_and_redeems(TenantKind::Oidc, "oidc").await;
}

#[tokio::test]
async fn r_oidc_01_a_first_sign_in_provisions_the_user_just_in_time_and_locks_the_mappings() {
    let h = Harness::start().await;
    let app = h.app("oidc", TenantKind::Oidc).await;
    let mut browser = h.browser();
    let visit = browser.open(&app.authorize("s")).await;
    let code = visit.param("code").expect("code");
    let identity = h.redeem(app.id, &code).await.unwrap().identity.unwrap();
    assert_eq!(identity.user.unwrap().email, app.user.email);
    let idp = alter_store::IdpStore::get_idp_for_app(&h.store(), app.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        idp.claim_mappings_locked_at.is_some(),
        "the first sign-in locks the claim mappings (R-CFG-08)"
    );
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_a_suspended_or_deprovisioned_user_is_refused_at_the_callback() {
    let h = Harness::start().await;
    let app = h.app("okta", TenantKind::Okta).await;
    let user = h.provision(&app).await;
    for (status, code) in [
        (UserStatus::Suspended, "user_suspended"),
        (UserStatus::Deprovisioned, "user_deprovisioned"),
    ] {
        h.set_status(app.id, user, status).await;
        let mut browser = h.browser();
        let visit = browser.open(&app.authorize("s")).await;
        assert!(
            visit.at_app(),
            "sent back to the app with the error: {visit:?}"
        );
        assert_eq!(visit.param("error").as_deref(), Some(code));
        assert_eq!(visit.param("code"), None, "no result code");
        assert_eq!(visit.param("state").as_deref(), Some("s"));
        assert_eq!(
            h.rows("sign_in_sessions", app.id).await,
            0,
            "no session created"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_a_user_suspended_after_the_callback_is_refused_at_redeem() {
    let h = Harness::start().await;
    let app = h.app("clerk", TenantKind::Clerk).await;
    let user = h.provision(&app).await;
    for (status, reason) in [
        (UserStatus::Suspended, RefusalReason::UserSuspended),
        (UserStatus::Deprovisioned, RefusalReason::UserDeprovisioned),
    ] {
        h.set_status(app.id, user, UserStatus::Active).await;
        let mut browser = h.browser();
        let code = browser
            .open(&app.authorize("s"))
            .await
            .param("code")
            .expect("code");
        h.set_status(app.id, user, status).await;
        let refused = h.redeem(app.id, &code).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
        assert_eq!(refusal_of(&refused).unwrap().reason, reason as i32);
        // The code was spent by the refusal: it cannot be retried once the user is back.
        h.set_status(app.id, user, UserStatus::Active).await;
        let later = h.redeem(app.id, &code).await.unwrap_err();
        assert_eq!(later.code(), tonic::Code::Unauthenticated);
    }
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_a_client_registered_for_client_secret_post_signs_in_too() {
    let h = Harness::start().await;
    let app = h
        .app_with(
            "auth0",
            TenantKind::Auth0,
            alter_idp_sim::ClientAuthMethod::ClientSecretPost,
        )
        .await;
    let visit = h.browser().open(&app.authorize("s")).await;
    let code = visit.param("code").unwrap_or_else(|| panic!("{visit:?}"));
    assert!(h.redeem(app.id, &code).await.is_ok());
    h.stop().await;
}

#[tokio::test]
async fn r_oidc_01_an_outage_at_redeem_is_unavailable_and_does_not_spend_the_code() {
    // A failed JWKS fetch is retried after this interval.
    let h = Harness::start_with(|c| c.jwt_verifier.jwks_unknown_kid_min_interval_secs = 1).await;
    let app = h.app("okta", TenantKind::Okta).await;
    let code = h
        .browser()
        .open(&app.authorize("s"))
        .await
        .param("code")
        .expect("code");
    // The provider's keys are forgotten (a configuration change) and cannot be fetched again.
    h.invalidate(app.id, alter_bus::Invalidation::IdpConfig)
        .await;
    h.sim
        .inject_fault("okta", alter_idp_sim::Fault::JwksDown { down: true })
        .unwrap();
    let down = h.redeem(app.id, &code).await.unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable, "{down:?}");
    assert_eq!(
        refusal_of(&down).unwrap().reason,
        RefusalReason::IdpUnavailable as i32
    );
    h.sim
        .inject_fault("okta", alter_idp_sim::Fault::JwksDown { down: false })
        .unwrap();
    // The backend retries with the same code until the provider's keys can be had again.
    let identity = alter_testkit::eventually(
        "the retry redeems the code",
        std::time::Duration::from_secs(10),
        || async { h.redeem(app.id, &code).await.ok() },
    )
    .await;
    assert_eq!(
        identity.identity.unwrap().user.unwrap().external_id,
        app.user.id
    );
    assert_eq!(
        h.redeem(app.id, &code).await.unwrap_err().code(),
        tonic::Code::Unauthenticated,
        "and only once"
    );
    h.stop().await;
}
