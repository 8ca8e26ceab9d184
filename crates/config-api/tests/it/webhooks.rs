//! R-HOOK-01: enabling webhooks per provider — generated secrets shown once and kept as a
//! hash, pasted secrets validated and sealed, rotation with a grace period, the endpoint URL.

use alter_core::IdpId;
use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;
use alter_store::{StoredWebhookSecret, WebhookStore};
use alter_testkit::{TestEnv, spawn};
use tonic::Code;

use crate::support::{Harness, TOKEN, assert_status, client};

const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn webhook_settings(
    h: &Harness,
    app: alter_core::AppId,
    idp: IdpId,
) -> alter_store::WebhookSettings {
    h.store
        .get_webhook_settings(app, idp)
        .await
        .unwrap()
        .expect("settings stored")
}

/// `EnableWebhooks` for the app with `secret` (empty: generated here).
async fn enable(
    h: &mut Harness,
    app: alter_core::AppId,
    secret: &str,
) -> Result<pb::WebhookSecretIssued, tonic::Status> {
    h.client
        .enable_webhooks(pb::EnableWebhooksRequest {
            app_id: app.to_string(),
            secret: secret.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn r_hook_01_auth0_secret_is_generated_shown_once_and_kept_only_as_its_hash() {
    let mut h = Harness::start().await;
    let (app, idp) = h.app_with_idp("hook-auth0", TenantKind::Auth0, None).await;
    let issued = enable(&mut h, app, "").await.unwrap();
    assert!(issued.secret.starts_with("alt_whk_"), "{issued:?}");
    let status = issued.status.clone().unwrap();
    assert!(status.enabled);
    assert_eq!(
        status.endpoint_url,
        format!("http://127.0.0.1:8080/v1/webhooks/{idp}")
    );
    assert!(issued.instructions.contains(&status.endpoint_url));

    let stored = webhook_settings(&h, app, idp).await;
    let hash = alter_secrets::TokenHash::of(&issued.secret);
    assert_eq!(
        stored.current,
        StoredWebhookSecret::Hash(hash.as_bytes().to_vec())
    );

    // Never shown again: status carries no secret, and enabling twice is refused.
    let shown = h
        .client
        .get_webhook_status(pb::GetWebhookStatusRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!format!("{shown:?}").contains(&issued.secret));
    let again = enable(&mut h, app, "").await.unwrap_err();
    assert_status(&again, Code::AlreadyExists, &["already enabled", "rotate"]);
    // A pasted secret makes no sense for Auth0.
    h.client
        .disable_webhooks(pb::DisableWebhooksRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap();
    let pasted = enable(&mut h, app, "mine").await.unwrap_err();
    assert_status(&pasted, Code::InvalidArgument, &["secret", "generated"]);
    h.finish().await;
}

#[tokio::test]
async fn r_hook_01_rotation_keeps_the_previous_secret_valid_for_the_grace_period() {
    let mut h = Harness::start().await;
    let (app, idp) = h.app_with_idp("hook-rotate", TenantKind::Oidc, None).await;
    let first = enable(&mut h, app, "").await.unwrap();
    let rotated = h
        .client
        .rotate_webhook_secret(pb::RotateWebhookSecretRequest {
            app_id: app.to_string(),
            secret: String::new(),
            grace_period_secs: 600,
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(first.secret, rotated.secret);
    assert!(!rotated.status.unwrap().previous_valid_until.is_empty());
    let stored = webhook_settings(&h, app, idp).await;
    let now = chrono::Utc::now();
    let valid = stored.valid_secrets(now);
    let hash =
        |s: &str| StoredWebhookSecret::Hash(alter_secrets::TokenHash::of(s).as_bytes().to_vec());
    assert_eq!(valid, [&hash(&rotated.secret), &hash(&first.secret)]);
    assert_eq!(
        stored.valid_secrets(now + chrono::Duration::seconds(601)),
        [&hash(&rotated.secret)]
    );

    let too_long = h
        .client
        .rotate_webhook_secret(pb::RotateWebhookSecretRequest {
            app_id: app.to_string(),
            secret: String::new(),
            grace_period_secs: 700_000,
        })
        .await
        .unwrap_err();
    assert_status(&too_long, Code::InvalidArgument, &["grace_period_secs"]);

    h.client
        .disable_webhooks(pb::DisableWebhooksRequest {
            app_id: app.to_string(),
        })
        .await
        .unwrap();
    assert!(
        h.store
            .get_webhook_settings(app, idp)
            .await
            .unwrap()
            .is_none()
    );
    let rotate_disabled = h
        .client
        .rotate_webhook_secret(pb::RotateWebhookSecretRequest {
            app_id: app.to_string(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(
        &rotate_disabled,
        Code::NotFound,
        &["not enabled", "alter webhooks enable"],
    );
    h.finish().await;
}

#[tokio::test]
async fn r_hook_01_pasted_secrets_need_a_master_key_and_are_validated_then_sealed() {
    // Without a master key, a pasted secret cannot be stored: the error says what to set.
    let mut h = Harness::start().await;
    let (app, _) = h.app_with_idp("hook-nokey", TenantKind::Clerk, None).await;
    let refused = enable(&mut h, app, SVIX_SECRET).await.unwrap_err();
    assert_status(
        &refused,
        Code::FailedPrecondition,
        &["secrets.master_key", "gen-key"],
    );
    h.finish().await;

    let env = TestEnv::new().await;
    let mut config = alter_config_api::Config::for_tests(env.common()).with_admin_token(TOKEN);
    config.common.secrets.master_key = Some(alter_secrets::MasterKey::generate().unwrap());
    let service = spawn::<alter_config_api::Application>(config).await;
    let mut api = client(&service, Some(TOKEN)).await;
    let sim = alter_idp_sim::IdpSim::start().await.unwrap();
    for (tenant, kind, pb_kind, good, bad) in [
        (
            "hook-clerk",
            TenantKind::Clerk,
            pb::IdpKind::Clerk,
            SVIX_SECRET,
            vec![
                ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
                ("whsec_***not base64***", "base64"),
                ("whsec_AAAA", "bytes"),
            ],
        ),
        (
            "hook-okta",
            TenantKind::Okta,
            pb::IdpKind::Okta,
            "okta-hook-auth-value",
            vec![("", "Authorization"), ("line\nbreak", "printable")],
        ),
    ] {
        let issuer = sim
            .create_tenant(tenant, kind, Default::default())
            .unwrap()
            .issuer;
        let issuer = if kind == TenantKind::Okta {
            sim.issuer(tenant, Some("default")).unwrap()
        } else {
            issuer
        };
        let app = api
            .create_app(pb::CreateAppRequest {
                name: tenant.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        let idp = api
            .create_idp(pb::CreateIdpRequest {
                app_id: app.clone(),
                issuer,
                kind: pb_kind.into(),
                audience: "https://api.example.test".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        for (secret, hint) in bad {
            let err = api
                .enable_webhooks(pb::EnableWebhooksRequest {
                    app_id: app.clone(),
                    secret: secret.into(),
                })
                .await
                .unwrap_err();
            assert_status(&err, Code::InvalidArgument, &["secret", hint]);
            assert!(!secret.is_empty() && !err.message().contains(secret) || secret.is_empty());
        }
        let issued = api
            .enable_webhooks(pb::EnableWebhooksRequest {
                app_id: app.clone(),
                secret: good.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(issued.secret.is_empty(), "a pasted secret is never echoed");
        let stored = env
            .db
            .store()
            .get_webhook_settings(
                alter_core::AppId::parse("app", &app).unwrap(),
                IdpId::parse("idp", &idp).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        match stored.current {
            StoredWebhookSecret::Sealed(sealed) => {
                assert!(
                    !sealed
                        .ciphertext
                        .windows(good.len())
                        .any(|w| w == good.as_bytes())
                );
            }
            other => panic!("{tenant}: expected a sealed secret, got {other:?}"),
        }
    }
    service.stop().await.unwrap();
    env.cleanup().await;
}
