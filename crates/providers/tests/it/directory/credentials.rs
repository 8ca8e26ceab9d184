//! R-DIR-01: each credential rule refused or accepted, offline and against the provider.

use alter_core::IdpKind;
use alter_idp_sim::{Fault, TenantKind};
use alter_providers::directory::{
    CredentialError, DirectoryCredential, DirectoryError, DirectoryReader, RequestBudget,
    verify_credential,
};
use alter_secrets::SecretString;
use serde_json::Value;
use std::sync::Arc;

use super::{Dir, OKTA_PRIVATE_JWK, private_jwk_with_kid, public_jwk};

async fn verify(c: &DirectoryCredential) -> Result<(), CredentialError> {
    verify_credential(&reqwest::Client::new(), c).await
}

fn invalid(r: Result<(), CredentialError>) -> alter_core::FieldError {
    match r {
        Err(CredentialError::Invalid(e)) => e,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn r_dir_01_a_good_credential_of_each_kind_is_accepted() {
    for kind in [TenantKind::Auth0, TenantKind::Clerk, TenantKind::Okta] {
        let d = Dir::new(kind).await;
        verify(&d.credential).await.unwrap();
        let expected = match kind {
            TenantKind::Auth0 => IdpKind::Auth0,
            TenantKind::Clerk => IdpKind::Clerk,
            _ => IdpKind::Okta,
        };
        assert_eq!(d.credential.kind(), expected);
        // verification reads the directory once, after the token exchange where there is one
        let c = d.sim.counters(d.tenant).unwrap();
        assert_eq!(c.api_requests, 1, "{kind:?} {c:?}");
    }
}

#[tokio::test]
async fn r_dir_01_clerk_publishable_key_is_refused_as_such_and_a_wrong_secret_key_as_wrong() {
    let d = Dir::new(TenantKind::Clerk).await;
    let with_key = |k: &str| DirectoryCredential::Clerk {
        secret_key: SecretString::new(k),
        api_url: Some(d.base_url.clone()),
    };
    let e = invalid(verify(&with_key("pk_test_Y2xlcmsuZXhhbXBsZS5jb20k")).await);
    assert_eq!(e.field, "secret_key");
    assert!(e.message.contains("publishable"), "{e}");
    assert_eq!(
        d.sim.counters(d.tenant).unwrap().api_requests,
        0,
        "refused offline"
    );

    let e = invalid(verify(&with_key("sk_test_notTheRightKey123")).await);
    assert_eq!(e.field, "secret_key");
    assert!(e.message.contains("refused by Clerk"), "{e}");

    // a reader opened with it is refused at its first read
    let mut r = DirectoryReader::open(
        reqwest::Client::new(),
        &with_key("sk_live_notTheRightKey123"),
        Arc::new(RequestBudget::per_minute(600)),
    )
    .await
    .unwrap();
    assert!(matches!(
        r.next_page().await,
        Err(DirectoryError::Refused { .. })
    ));
}

#[tokio::test]
async fn r_dir_01_okta_public_jwk_is_refused_saying_so() {
    let d = Dir::new(TenantKind::Okta).await;
    let DirectoryCredential::Okta {
        org_url, client_id, ..
    } = d.credential.clone()
    else {
        unreachable!()
    };
    let c = DirectoryCredential::Okta {
        org_url,
        client_id,
        private_jwk: SecretString::new(public_jwk("k1").to_string()),
        key_id: None,
    };
    let e = c.validate().unwrap_err();
    assert_eq!(e.field, "private_jwk");
    assert!(e.message.contains("public JWK"), "{e}");
    assert_eq!(invalid(verify(&c).await).field, "private_jwk");
    for (jwk, says) in [
        ("not json", "not valid JSON"),
        (
            r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}"#,
            "EC key",
        ),
        (r#"{"keys":[]}"#, "no kty"),
    ] {
        let c = DirectoryCredential::Okta {
            org_url: d.base_url.clone(),
            client_id: "0oa1".into(),
            private_jwk: SecretString::new(jwk),
            key_id: Some("k1".into()),
        };
        let e = c.validate().unwrap_err();
        assert!(e.message.contains(says), "{jwk}: {e}");
    }
}

#[tokio::test]
async fn r_dir_01_okta_jwk_without_kid_needs_the_key_id_field() {
    let d = Dir::new(TenantKind::Okta).await;
    let DirectoryCredential::Okta {
        org_url, client_id, ..
    } = d.credential.clone()
    else {
        unreachable!()
    };
    let mut c = DirectoryCredential::Okta {
        org_url: org_url.clone(),
        client_id: client_id.clone(),
        private_jwk: SecretString::new(OKTA_PRIVATE_JWK),
        key_id: None,
    };
    let e = invalid(verify(&c).await);
    assert_eq!(e.field, "key_id");
    assert!(e.message.contains("no kid"), "{e}");
    c = DirectoryCredential::Okta {
        org_url,
        client_id,
        private_jwk: SecretString::new(OKTA_PRIVATE_JWK),
        key_id: Some("k1".into()),
    };
    verify(&c).await.unwrap();
    // the kid of the JWK wins over the field
    let DirectoryCredential::Okta {
        org_url, client_id, ..
    } = d.credential.clone()
    else {
        unreachable!()
    };
    let c = DirectoryCredential::Okta {
        org_url,
        client_id,
        private_jwk: SecretString::new(private_jwk_with_kid("k1")),
        key_id: Some("other".into()),
    };
    verify(&c).await.unwrap();
}

#[tokio::test]
async fn r_dir_01_okta_app_without_admin_role_is_refused_with_the_role_to_assign() {
    let d = Dir::new(TenantKind::Okta).await;
    let DirectoryCredential::Okta { client_id, .. } = &d.credential else {
        unreachable!()
    };
    d.sim
        .set_okta_admin_role(d.tenant, client_id, false)
        .unwrap();
    let e = invalid(verify(&d.credential).await);
    assert_eq!(e.field, "client_id");
    assert!(e.message.contains("Read-only Administrator"), "{e}");
    assert!(e.message.contains("E0000006"), "{e}");
}

#[tokio::test]
async fn okta_app_lacking_scopes_or_with_an_unregistered_key_is_refused() {
    let d = Dir::new(TenantKind::Okta).await;
    let app = d
        .sim
        .register_okta_service_app(d.tenant, vec![public_jwk("k2")], &["okta.users.read"], true)
        .unwrap();
    let c = DirectoryCredential::Okta {
        org_url: d.base_url.clone(),
        client_id: app.client_id.clone(),
        private_jwk: SecretString::new(private_jwk_with_kid("k2")),
        key_id: None,
    };
    let e = invalid(verify(&c).await);
    assert!(e.message.contains("okta.groups.read"), "{e}");

    let c = DirectoryCredential::Okta {
        org_url: d.base_url.clone(),
        client_id: app.client_id,
        private_jwk: SecretString::new(private_jwk_with_kid("unknown")),
        key_id: None,
    };
    let e = invalid(verify(&c).await);
    assert_eq!(e.field, "private_jwk");
    assert!(e.message.contains("kid unknown"), "{e}");
}

#[tokio::test]
async fn r_dir_01_auth0_client_lacking_read_users_is_refused_naming_the_scope() {
    let d = Dir::new(TenantKind::Auth0).await;
    let c = d
        .sim
        .register_auth0_client(d.tenant, &["read:logs"])
        .unwrap();
    let cred = DirectoryCredential::Auth0 {
        domain: d.base_url.clone(),
        client_id: c.client_id,
        client_secret: SecretString::new(c.client_secret),
    };
    let e = invalid(verify(&cred).await);
    assert_eq!(e.field, "client_id");
    assert!(
        e.message.contains("read:users") && e.message.contains("read:logs"),
        "{e}"
    );
    let err = DirectoryReader::open(
        reqwest::Client::new(),
        &cred,
        Arc::new(RequestBudget::per_minute(600)),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, DirectoryError::Refused { .. }), "{err:?}");

    let DirectoryCredential::Auth0 {
        domain, client_id, ..
    } = d.credential.clone()
    else {
        unreachable!()
    };
    let wrong = DirectoryCredential::Auth0 {
        domain,
        client_id,
        client_secret: SecretString::new("not-the-secret"),
    };
    let e = invalid(verify(&wrong).await);
    assert_eq!(e.field, "client_secret");
    assert!(!e.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn urls_must_be_https_except_loopback_and_a_wrong_url_is_named() {
    let c = DirectoryCredential::Auth0 {
        domain: "http://acme.auth0.com".into(),
        client_id: "x".into(),
        client_secret: SecretString::new("y"),
    };
    assert_eq!(c.validate().unwrap_err().field, "domain");
    let c = DirectoryCredential::Clerk {
        secret_key: SecretString::new("sk_test_abc"),
        api_url: Some("https://".into()),
    };
    assert_eq!(c.validate().unwrap_err().field, "api_url");
    let c = DirectoryCredential::Okta {
        org_url: "acme.okta.com/?x".into(),
        client_id: "0oa".into(),
        private_jwk: SecretString::new(private_jwk_with_kid("k")),
        key_id: None,
    };
    assert_eq!(c.validate().unwrap_err().field, "org_url");

    // a tenant that does not exist on the simulator: 404, not a provider answer
    let d = Dir::new(TenantKind::Clerk).await;
    let c = DirectoryCredential::Clerk {
        secret_key: SecretString::new("sk_test_abc"),
        api_url: Some(format!("{}-missing", d.base_url)),
    };
    let e = invalid(verify(&c).await);
    assert_eq!(e.field, "api_url");
}

#[tokio::test]
async fn a_provider_failing_with_5xx_is_unavailable_not_invalid() {
    let d = Dir::new(TenantKind::Okta).await;
    d.sim
        .inject_fault(
            d.tenant,
            Fault::ErrorBurst {
                count: 10,
                status: 503,
            },
        )
        .unwrap();
    match verify(&d.credential).await {
        Err(CredentialError::Unavailable(msg)) => assert!(msg.contains("HTTP 503"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let _: Value = serde_json::from_str(OKTA_PRIVATE_JWK).unwrap();
}
