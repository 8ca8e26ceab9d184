//! Identity-provider configuration against a real IdpSim: R-CFG-01, 03, 05, 06, 07, 08.

use alter_core::IdpKind;
use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;
use alter_store::IdpStore;
use tonic::Code;

use crate::support::{Harness, assert_status, pb_kind};

#[tokio::test]
async fn r_cfg_03_discovery_matches_the_exact_issuer_of_every_kind_and_create_takes_its_jwks_uri() {
    let mut h = Harness::start().await;
    h.tenant("okta", TenantKind::Okta);
    let cases = [
        (
            "auth0",
            TenantKind::Auth0,
            h.tenant("auth0", TenantKind::Auth0),
        ),
        (
            "clerk",
            TenantKind::Clerk,
            h.tenant("clerk", TenantKind::Clerk),
        ),
        (
            "okta",
            TenantKind::Okta,
            h.sim.issuer("okta", Some("default")).unwrap(),
        ),
        ("oidc", TenantKind::Oidc, h.tenant("oidc", TenantKind::Oidc)),
    ];
    assert!(
        cases[0].2.ends_with('/'),
        "Auth0 issuers carry the trailing slash"
    );
    for (tenant, kind, issuer) in cases {
        let expected_jwks = match kind {
            TenantKind::Okta => format!("{}/v1/keys", issuer),
            _ => h.sim.tenant(tenant).unwrap().jwks_uri,
        };
        let preview = h
            .client
            .discover_idp(pb::DiscoverIdpRequest {
                issuer: issuer.clone(),
                kind: pb_kind(kind).into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(preview.issuer, issuer, "{tenant}");
        assert_eq!(preview.jwks_uri, expected_jwks, "{tenant}");
        // Sim hosts are loopback, no provider's host (like a custom domain): the provider is
        // recognised by the document's endpoint layout (R-CFG-04); plain OIDC by none.
        let by_layout = match kind {
            TenantKind::Oidc => pb::IdpKind::Unspecified,
            _ => pb_kind(kind),
        };
        assert_eq!(preview.recognised_kind(), by_layout, "{tenant}");
        assert_eq!(preview.kind(), pb_kind(kind), "{tenant}");
        let unstated = h
            .client
            .discover_idp(pb::DiscoverIdpRequest {
                issuer: issuer.clone(),
                kind: pb::IdpKind::Unspecified.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(unstated.kind(), by_layout, "{tenant}");
        let audience = if kind == TenantKind::Okta {
            "api://default"
        } else {
            ""
        };
        assert_eq!(unstated.suggested_audience, audience, "{tenant}");
        assert_eq!(
            unstated.suggested_claim_mappings.is_some(),
            by_layout != pb::IdpKind::Unspecified,
            "{tenant}"
        );
        let suggested = preview.suggested_claim_mappings.unwrap();
        let core_kind = match kind {
            TenantKind::Auth0 => IdpKind::Auth0,
            TenantKind::Clerk => IdpKind::Clerk,
            TenantKind::Okta => IdpKind::Okta,
            TenantKind::Oidc => IdpKind::CustomOidc,
        };
        assert_eq!(
            suggested.user_id_claim,
            alter_core::suggested_claim_mappings(core_kind).user_id_claim
        );

        // The preview saved nothing; CreateIdp discovers again and stores the JWKS URL.
        let app = h.app(tenant).await;
        assert_eq!(
            h.client
                .get_idp(pb::GetIdpRequest {
                    app_id: app.to_string()
                })
                .await
                .unwrap_err()
                .code(),
            Code::NotFound
        );
        // Recognised providers need no stated kind; custom OIDC must say so.
        if by_layout == pb::IdpKind::Unspecified {
            let err = h
                .create_idp(app, &issuer, pb::IdpKind::Unspecified, None)
                .await
                .unwrap_err();
            assert_status(&err, Code::InvalidArgument, &["kind", "custom-oidc"]);
        }
        let stated = match by_layout {
            pb::IdpKind::Unspecified => pb_kind(kind),
            _ => pb::IdpKind::Unspecified,
        };
        let idp = h.create_idp(app, &issuer, stated, None).await.unwrap();
        assert_eq!(
            (idp.issuer.as_str(), idp.jwks_uri.as_str()),
            (issuer.as_str(), expected_jwks.as_str()),
            "{tenant}"
        );
        assert_eq!(idp.kind(), pb_kind(kind));
        assert_eq!(
            idp.claim_mappings.unwrap().user_id_claim,
            suggested.user_id_claim,
            "suggested mappings pre-filled"
        );
    }
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_03_issuer_mismatch_or_failed_discovery_is_refused_and_nothing_is_saved() {
    let mut h = Harness::start().await;
    let auth0 = h.tenant("acme", TenantKind::Auth0);
    h.tenant("okta", TenantKind::Okta);
    let okta = h.sim.issuer("okta", Some("default")).unwrap();
    let app = h.app("mismatch").await;
    let cases = [
        // The document says ".../acme/"; without the slash the issuer is not exact.
        (
            auth0.trim_end_matches('/').to_owned(),
            TenantKind::Auth0,
            Code::InvalidArgument,
            "document has",
        ),
        (
            format!("{okta}/"),
            TenantKind::Okta,
            Code::InvalidArgument,
            "document has",
        ),
        // No such authorization server: the discovery URL answers 404.
        (
            h.sim.issuer("okta", Some("nope")).unwrap(),
            TenantKind::Okta,
            Code::FailedPrecondition,
            "HTTP 404",
        ),
    ];
    for (issuer, kind, code, why) in cases {
        let err = h
            .create_idp(app, &issuer, pb_kind(kind), None)
            .await
            .unwrap_err();
        assert_status(&err, code, &["issuer", why]);
        let err = h
            .client
            .discover_idp(pb::DiscoverIdpRequest {
                issuer: issuer.clone(),
                kind: pb_kind(kind).into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{issuer}");
        assert!(
            h.store.get_idp_for_app(app).await.unwrap().is_none(),
            "nothing saved for {issuer}"
        );
    }
    // The exact issuer then works for the same app.
    h.create_idp(app, &auth0, pb::IdpKind::Auth0, None)
        .await
        .unwrap();
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_03_custom_oidc_may_give_its_jwks_uri_by_hand_without_discovery_but_others_may_not() {
    let mut h = Harness::start().await;
    let app = h.app("manual").await;
    // No tenant is served here, so discovery would fail: the hand-given URL is used as is.
    let issuer = format!("{}/no-discovery", h.sim.base_url());
    let jwks = format!("{issuer}/keys");
    let mut req = pb::CreateIdpRequest {
        app_id: app.to_string(),
        issuer: issuer.clone(),
        kind: pb::IdpKind::Auth0.into(),
        audience: "api".into(),
        jwks_uri: jwks.clone(),
        claim_mappings: None,
        ..Default::default()
    };
    let err = h.client.create_idp(req.clone()).await.unwrap_err();
    assert_status(&err, Code::InvalidArgument, &["jwks_uri", "custom_oidc"]);
    req.kind = pb::IdpKind::CustomOidc.into();
    req.jwks_uri = "http://keys.example.test/jwks".into();
    assert_status(
        &h.client.create_idp(req.clone()).await.unwrap_err(),
        Code::InvalidArgument,
        &["jwks_uri", "https"],
    );
    req.jwks_uri = jwks.clone();
    let idp = h.client.create_idp(req).await.unwrap().into_inner();
    assert_eq!(
        (idp.jwks_uri.as_str(), idp.kind()),
        (jwks.as_str(), pb::IdpKind::CustomOidc)
    );
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_05_brokered_issuers_are_rejected_whatever_kind_is_asked() {
    let mut h = Harness::start().await;
    let app = h.app("brokered").await;
    let cases = [
        (
            "https://login.microsoftonline.com/x/v2.0",
            "Microsoft Entra ID",
        ),
        ("https://sso.example.com/realms/acme", "Keycloak"),
        (
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab",
            "Amazon Cognito",
        ),
        ("https://accounts.google.com", "Google"),
        ("https://securetoken.google.com/proj", "Firebase Auth"),
        ("https://abc.supabase.co/auth/v1", "Supabase Auth"),
    ];
    for (issuer, provider) in cases {
        for kind in [
            pb::IdpKind::Unspecified,
            pb::IdpKind::Auth0,
            pb::IdpKind::Clerk,
            pb::IdpKind::Okta,
            pb::IdpKind::CustomOidc,
        ] {
            let err = h.create_idp(app, issuer, kind, None).await.unwrap_err();
            assert_status(
                &err,
                Code::InvalidArgument,
                &["issuer", provider, "broker it through Auth0, Clerk or Okta"],
            );
        }
        let err = h
            .client
            .discover_idp(pb::DiscoverIdpRequest {
                issuer: issuer.into(),
                kind: pb::IdpKind::Okta.into(),
            })
            .await
            .unwrap_err();
        assert_status(&err, Code::InvalidArgument, &[provider]);
    }
    assert!(h.store.get_idp_for_app(app).await.unwrap().is_none());
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_01_a_second_identity_provider_for_an_app_already_exists() {
    let mut h = Harness::start().await;
    let (app, first) = h.app_with_idp("first", TenantKind::Clerk, None).await;
    let second = h.tenant("second", TenantKind::Okta);
    let err = h
        .create_idp(app, &second, pb::IdpKind::Okta, None)
        .await
        .unwrap_err();
    assert_status(&err, Code::AlreadyExists, &["at most one"]);
    let stored = h.store.get_idp_for_app(app).await.unwrap().unwrap();
    assert_eq!((stored.id, stored.kind), (first, IdpKind::Clerk));
    h.finish().await;
}

#[tokio::test]
async fn deleting_the_identity_provider_lets_the_app_add_another_until_users_signed_in() {
    let mut h = Harness::start().await;
    let (app, _) = h.app_with_idp("one", TenantKind::Clerk, None).await;
    h.client
        .delete_idp(pb::DeleteIdpRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap();
    assert_eq!(
        h.client
            .get_idp(pb::GetIdpRequest {
                app_id: app.to_string()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let other = h.tenant("two", TenantKind::Auth0);
    let idp = h
        .create_idp(app, &other, pb::IdpKind::Auth0, None)
        .await
        .unwrap();
    h.user(
        app,
        alter_core::IdpId::parse("id", &idp.id).unwrap(),
        "auth0|1",
    )
    .await;
    let err = h
        .client
        .delete_idp(pb::DeleteIdpRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, &["signed in"]);
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_06_audience_is_required() {
    let mut h = Harness::start().await;
    let app = h.app("aud").await;
    let issuer = h.tenant("aud", TenantKind::Auth0);
    for audience in ["", "   "] {
        let err = h
            .client
            .create_idp(pb::CreateIdpRequest {
                app_id: app.to_string(),
                issuer: issuer.clone(),
                kind: pb::IdpKind::Auth0.into(),
                audience: audience.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_status(&err, Code::InvalidArgument, &["audience is required"]);
    }
    assert!(h.store.get_idp_for_app(app).await.unwrap().is_none());
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_07_claim_names_with_dots_and_slashes_are_accepted_and_bad_ones_name_the_field() {
    let mut h = Harness::start().await;
    let app = h.app("claims").await;
    let issuer = h.tenant("claims", TenantKind::Auth0);
    let bad = pb::ClaimMappings {
        group_claim: "my groups".into(),
        ..Default::default()
    };
    let err = h
        .create_idp(app, &issuer, pb::IdpKind::Auth0, Some(bad))
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        &["claim_mappings.group_claim", "whitespace"],
    );
    let mappings = pb::ClaimMappings {
        user_id_claim: "https://alter.dev/uid".into(),
        group_claim: "https://alter.dev/groups".into(),
        role_claim: "app.roles".into(),
        email_claim: "email".into(),
        display_name_claim: "name".into(),
        group_claim_stable_ids: false,
    };
    let idp = h
        .create_idp(app, &issuer, pb::IdpKind::Auth0, Some(mappings.clone()))
        .await
        .unwrap();
    assert_eq!(idp.claim_mappings.unwrap(), mappings);
    let stored = h.store.get_idp_for_app(app).await.unwrap().unwrap();
    assert_eq!(
        stored.claim_mappings.group_claim.as_deref(),
        Some("https://alter.dev/groups")
    );
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_08_claim_mappings_lock_after_the_first_sign_in() {
    let mut h = Harness::start().await;
    let (app, idp) = h.app_with_idp("lock", TenantKind::Okta, None).await;
    let changed = pb::ClaimMappings {
        user_id_claim: "sub".into(),
        group_claim: "groups".into(),
        ..Default::default()
    };
    let before = h
        .client
        .set_claim_mappings(pb::SetClaimMappingsRequest {
            app_id: app.to_string(),
            claim_mappings: Some(changed.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.claim_mappings.unwrap().user_id_claim, "sub");
    assert!(!before.claim_mappings_locked);

    // What the verifier does at the first successful sign-in.
    assert!(h.store.lock_claim_mappings(app, idp).await.unwrap());
    let again = pb::ClaimMappings {
        user_id_claim: "uid".into(),
        ..changed.clone()
    };
    let err = h
        .client
        .set_claim_mappings(pb::SetClaimMappingsRequest {
            app_id: app.to_string(),
            claim_mappings: Some(again),
        })
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::FailedPrecondition,
        &[
            "claim mappings are locked because a user of this identity provider has already signed in (at ",
            "user_id_claim",
        ],
    );
    let shown = h
        .client
        .get_idp(pb::GetIdpRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(shown.claim_mappings_locked);
    assert_eq!(
        shown.claim_mappings.unwrap(),
        changed,
        "unchanged after the refusal"
    );
    h.finish().await;
}
