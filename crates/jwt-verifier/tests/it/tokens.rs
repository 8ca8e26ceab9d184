//! Token checks over gRPC against every provider kind (R-JWT-01..05), and request errors.

use alter_core::IdpKind;
use alter_idp_sim::{TenantKind, TokenAlg, TokenSpec};
use alter_proto::identity::v1::{RefusalReason, UserStatus};
use serde_json::json;
use tonic::Code;

use crate::support::{AUDIENCE, Harness, assert_refused, mappings};

#[tokio::test]
async fn all_four_provider_kinds_verify_auth0_clerk_okta_custom_as_and_oidc() {
    let h = Harness::start().await;
    let cases = [
        ("auth0t", TenantKind::Auth0, "auth0|42"),
        ("clerkt", TenantKind::Clerk, "user_2abc"),
        ("oktat", TenantKind::Okta, "00u1abcd"),
        ("oidct", TenantKind::Oidc, "oidc-7"),
    ];
    for (tenant, kind, sub) in cases {
        let app = h.app(tenant, kind, mappings()).await;
        if kind == TenantKind::Auth0 {
            assert!(
                app.idp.issuer.ends_with('/'),
                "Auth0 issuer keeps its trailing slash"
            );
        }
        if kind == TenantKind::Okta {
            assert!(
                app.idp.issuer.ends_with("/oauth2/default"),
                "{}",
                app.idp.issuer
            );
        }
        let token = h.mint(&app, sub, &[]);
        let answer = h
            .verify(app.id, &token)
            .await
            .unwrap_or_else(|s| panic!("{kind:?}: {s:?}"));
        let user = answer.user.expect("user");
        assert_eq!(user.external_id, sub, "{kind:?}");
        assert_eq!(user.status(), UserStatus::Active);
        assert!(
            answer.token_expires_at > chrono::Utc::now().timestamp(),
            "{kind:?}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_01_algorithm_confusion_and_alg_none_are_refused() {
    let h = Harness::start().await;
    let app = h.app("conf", TenantKind::Auth0, mappings()).await;
    for alg in [TokenAlg::HS256, TokenAlg::None] {
        let spec = TokenSpec {
            alg,
            ..TokenSpec::new("auth0|1", json!(AUDIENCE))
        };
        let token = h.mint_spec(&app, spec);
        assert_refused(
            h.verify(app.id, &token).await,
            Code::Unauthenticated,
            RefusalReason::AlgorithmNotAllowed,
        );
    }
    // The asymmetric algorithms the IDP publishes keys for still verify.
    for alg in [TokenAlg::ES256, TokenAlg::EdDSA] {
        let spec = TokenSpec {
            alg,
            ..TokenSpec::new("auth0|1", json!(AUDIENCE))
        };
        let token = h.mint_spec(&app, spec);
        h.verify(app.id, &token)
            .await
            .unwrap_or_else(|s| panic!("{alg:?}: {s:?}"));
    }
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_02_custom_domain_issuer_mismatch_is_refused() {
    let h = Harness::start().await;
    let app = h.app("issuer", TenantKind::Auth0, mappings()).await;
    // The token's iss without the trailing slash the IDP is configured with.
    let token = h.mint(
        &app,
        "auth0|1",
        &[("iss", json!(app.idp.issuer.trim_end_matches('/')))],
    );
    assert_refused(
        h.verify(app.id, &token).await,
        Code::Unauthenticated,
        RefusalReason::WrongIssuer,
    );
    // A custom domain configured where the tenant issues under its own domain.
    let custom = h
        .app_with_idp(
            "issuer",
            IdpKind::Auth0,
            "https://login.example.com/",
            &app.idp.jwks_uri,
            mappings(),
            None,
        )
        .await;
    let token = h.mint(&custom, "auth0|1", &[]);
    let status = assert_refused(
        h.verify(custom.id, &token).await,
        Code::Unauthenticated,
        RefusalReason::WrongIssuer,
    );
    assert!(
        status.message().contains("https://login.example.com/"),
        "{}",
        status.message()
    );
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_03_expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway() {
    let h = Harness::start().await;
    let app = h.app("times", TenantKind::Clerk, mappings()).await;
    let expired = TokenSpec {
        expires_in: Some(-3600),
        ..TokenSpec::new("user_1", json!(AUDIENCE))
    };
    assert_refused(
        h.verify(app.id, &h.mint_spec(&app, expired)).await,
        Code::Unauthenticated,
        RefusalReason::Expired,
    );
    let early = TokenSpec {
        not_before_in: Some(3600),
        ..TokenSpec::new("user_1", json!(AUDIENCE))
    };
    assert_refused(
        h.verify(app.id, &h.mint_spec(&app, early)).await,
        Code::Unauthenticated,
        RefusalReason::NotYetValid,
    );
    // Within the 60 s leeway: accepted.
    let skewed = TokenSpec {
        expires_in: Some(-10),
        ..TokenSpec::new("user_1", json!(AUDIENCE))
    };
    h.verify(app.id, &h.mint_spec(&app, skewed))
        .await
        .expect("10 s past exp is within the leeway");
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_04_audience_may_be_a_string_or_an_array() {
    let h = Harness::start().await;
    let app = h.app("aud", TenantKind::Okta, mappings()).await;
    for aud in [json!(AUDIENCE), json!(["https://other", AUDIENCE])] {
        let token = h.mint(&app, "00u1", &[("aud", aud.clone())]);
        h.verify(app.id, &token)
            .await
            .unwrap_or_else(|s| panic!("aud {aud}: {s:?}"));
    }
    for aud in [
        json!("https://other"),
        json!(["https://other", "api://alter-test/"]),
    ] {
        let token = h.mint(&app, "00u1", &[("aud", aud)]);
        assert_refused(
            h.verify(app.id, &token).await,
            Code::Unauthenticated,
            RefusalReason::WrongAudience,
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_05_key_rotation_works_without_restart_and_unknown_kids_are_refused() {
    let h = Harness::start().await;
    let app = h.app("rot", TenantKind::Oidc, mappings()).await;
    h.verify(app.id, &h.mint(&app, "u1", &[]))
        .await
        .expect("before rotation");
    h.sim.rotate_keys("rot", TokenAlg::RS256).expect("rotate");
    h.verify(app.id, &h.mint(&app, "u1", &[]))
        .await
        .expect("a token signed by the new key verifies");
    let spec = TokenSpec {
        kid: Some("no-such-kid".to_owned()),
        ..TokenSpec::new("u1", json!(AUDIENCE))
    };
    assert_refused(
        h.verify(app.id, &h.mint_spec(&app, spec)).await,
        Code::Unauthenticated,
        RefusalReason::UnknownKid,
    );
    h.stop().await;
}

#[tokio::test]
async fn malformed_requests_name_the_field_and_unknown_apps_are_not_found() {
    let h = Harness::start().await;
    let status = h.verify_raw("not-a-uuid", "x.y.z").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("app_id "),
        "{}",
        status.message()
    );
    let app = h.app("args", TenantKind::Clerk, mappings()).await;
    let status = h.verify(app.id, "  ").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("token "),
        "{}",
        status.message()
    );
    let status = h
        .verify(alter_core::AppId::new(), "x.y.z")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("app_id"), "{}", status.message());
    assert_refused(
        h.verify(app.id, "garbage").await,
        Code::Unauthenticated,
        RefusalReason::Malformed,
    );
    h.stop().await;
}
