//! R-CFG-10: OIDC sign-in settings. The answer always carries the two redirect URIs and the
//! Wallet logout URL to paste into the identity provider; the client secret is sealed with
//! the operator's key and never returned; return URLs are exact; a Clerk development
//! instance is refused; each change lands in the audit trail's outbox with the change.

use alter_core::sign_in::SignInUrls;
use alter_core::{AppId, ClaimMappings, IdpKind};
use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;
use alter_secrets::{Keyring, MasterKey};
use alter_store::{AppStore, IdpStore, NewIdp, SecretPurpose, SecretStore};
use tonic::Code;

use crate::support::{Harness, assert_status};

const PUBLIC: &str = "https://alter.example.com";
const SECRET: &str = "oidc-client-secret-value-9f8e7d";

async fn harness(key: Option<MasterKey>, public: Option<&str>) -> Harness {
    Harness::start_with(|config| {
        config.common.secrets.master_key = key;
        config.common.public.signin_url = public.map(str::to_owned);
    })
    .await
}

fn set(app: AppId, secret: &str, return_urls: &[&str]) -> pb::SetSignInRequest {
    pb::SetSignInRequest {
        app_id: app.to_string(),
        client_id: "0oa1client".into(),
        client_secret: secret.into(),
        return_urls: return_urls.iter().map(|u| (*u).to_owned()).collect(),
        scopes: vec!["profile".into(), "openid".into(), "email".into()],
    }
}

async fn audit_rows(h: &Harness, app: AppId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE app_id = $1 AND topic = 'audit'")
        .bind(app.as_uuid())
        .fetch_one(h.env.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn r_cfg_10_sign_in_settings_show_the_redirect_uris_and_never_the_secret() {
    let key = MasterKey::generate().unwrap();
    let mut h = harness(Some(key.clone()), Some(PUBLIC)).await;
    let (app, idp) = h.app_with_idp("si-okta", TenantKind::Okta, None).await;

    let baseline = audit_rows(&h, app).await;
    let before = h
        .client
        .get_sign_in(pb::GetSignInRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!before.enabled && !before.client_secret_set);

    let first_without_secret = h
        .client
        .set_sign_in(set(app, "", &["https://app.example.com/done"]))
        .await;
    assert_status(
        &first_without_secret.unwrap_err(),
        Code::InvalidArgument,
        &["client_secret", "required"],
    );

    let urls = SignInUrls::new(PUBLIC, app);
    let shown = h
        .client
        .set_sign_in(set(app, SECRET, &["https://app.example.com/done"]))
        .await
        .unwrap()
        .into_inner();
    assert!(shown.enabled && shown.client_secret_set);
    assert_eq!(shown.client_id, "0oa1client");
    assert_eq!(shown.scopes, ["profile", "email"], "openid is implied");
    assert_eq!(shown.app_redirect_uri, urls.app_redirect_uri);
    assert_eq!(shown.wallet_redirect_uri, urls.wallet_redirect_uri);
    assert_eq!(shown.wallet_logout_url, urls.wallet_logout_url);
    assert_eq!(
        shown.app_redirect_uri,
        format!("{PUBLIC}/v1/signin/{app}/callback")
    );
    assert!(!format!("{shown:?}").contains(SECRET), "never returned");

    // Sealed at rest, for this IDP, under the operator's key.
    let stored = h
        .store
        .get_secret(app, idp, SecretPurpose::ClientSecret)
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored.sealed.ciphertext).contains(SECRET));
    let opened = stored
        .sealed
        .open_string(
            &Keyring::new(key),
            &alter_store::client_secret_seal_context(idp),
        )
        .unwrap();
    assert_eq!(opened.expose(), SECRET);

    // Changing the return URLs without a secret keeps the stored one.
    let changed = h
        .client
        .set_sign_in(set(
            app,
            "",
            &["https://app.example.com/done", "http://127.0.0.1:3000/cb"],
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(changed.client_secret_set);
    assert_eq!(changed.return_urls.len(), 2);
    let got = h
        .client
        .get_sign_in(pb::GetSignInRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, changed);

    for (bad, field) in [
        ("https://*.example.com/done", "return_urls[0]"),
        ("http://app.example.com/done", "return_urls[0]"),
        ("https://app.example.com/done#frag", "return_urls[0]"),
    ] {
        let refused = h
            .client
            .set_sign_in(set(app, "", &[bad]))
            .await
            .unwrap_err();
        assert_status(&refused, Code::InvalidArgument, &[field]);
    }

    let disabled = h
        .client
        .disable_sign_in(pb::DisableSignInRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.enabled && !disabled.client_secret_set);
    assert_eq!(
        h.store
            .get_secret(app, idp, SecretPurpose::ClientSecret)
            .await
            .unwrap(),
        None,
        "disabling deletes the secret"
    );
    assert_eq!(
        audit_rows(&h, app).await - baseline,
        3,
        "set, change and disable each wrote an admin record with the change; refusals none"
    );
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_10_sign_in_needs_the_public_url_and_a_master_key() {
    let mut h = harness(None, None).await;
    let (app, _) = h.app_with_idp("si-nourl", TenantKind::Auth0, None).await;
    let refused = h
        .client
        .set_sign_in(set(app, SECRET, &["https://app.example.com/done"]))
        .await
        .unwrap_err();
    assert_status(
        &refused,
        Code::FailedPrecondition,
        &["public.signin_url", "ALTER_PUBLIC__SIGNIN_URL"],
    );
    h.finish().await;

    let mut h = harness(None, Some(PUBLIC)).await;
    let (app, _) = h.app_with_idp("si-nokey", TenantKind::Auth0, None).await;
    let refused = h
        .client
        .set_sign_in(set(app, SECRET, &["https://app.example.com/done"]))
        .await
        .unwrap_err();
    assert_status(
        &refused,
        Code::FailedPrecondition,
        &["secrets.master_key", "gen-key"],
    );
    h.finish().await;
}

#[tokio::test]
async fn r_cfg_10_a_clerk_development_instance_is_refused_for_sign_in() {
    let mut h = harness(Some(MasterKey::generate().unwrap()), Some(PUBLIC)).await;
    // Stored directly: creating it through the API would fetch its discovery document.
    let app = h.store.create_app("clerk dev").await.unwrap();
    h.store
        .create_idp(
            app.id,
            &NewIdp {
                kind: IdpKind::Clerk,
                issuer: "https://brave-otter-42.clerk.accounts.dev".into(),
                jwks_uri: "https://brave-otter-42.clerk.accounts.dev/.well-known/jwks.json".into(),
                audience: "https://api.example.test".into(),
                claim_mappings: ClaimMappings::default(),
                sign_in: None,
            },
        )
        .await
        .unwrap();
    let refused = h
        .client
        .set_sign_in(set(app.id, SECRET, &["https://app.example.com/done"]))
        .await
        .unwrap_err();
    assert_status(
        &refused,
        Code::FailedPrecondition,
        &["development instance", "production"],
    );
    h.finish().await;
}
