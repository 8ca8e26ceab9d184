//! The seams under the lifecycle, end to end: every admin change lands in the audit trail
//! once with the admin token's identity (R-AUD-05), and a grant change made through
//! config-api never costs the verifiers the IDP's keys (R-JWT-05).

use alter_idp_sim::{Fault, IdpSim, TenantKind, TenantOptions, TokenSpec};
use alter_proto::admin::v1 as admin;
use alter_proto::identity::v1::{PrincipalKind, VerifyRequest};
use alter_testkit::{TestEnv, eventually, spawn};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::clerk_app;

const ADMIN_TOKEN: &str = "alt_adm_e2e-seams-token";
const AUDIENCE: &str = "api://seams";

/// The `actor` an admin token is recorded as: `admin-token:sha256:<first 12 hex digits>`.
fn actor_of(token: &str) -> String {
    let hash = alter_secrets::TokenHash::of(token).to_string();
    let hex = hash.strip_prefix("sha256:").unwrap();
    format!("admin-token:sha256:{}", &hex[..12])
}

#[tokio::test]
async fn r_aud_05_every_admin_change_lands_in_the_audit_trail_once_with_the_token_identity() {
    let env = TestEnv::new().await;
    let config_api = spawn::<alter_config_api::Application>(
        alter_config_api::Config::for_tests(env.common()).with_admin_token(ADMIN_TOKEN),
    )
    .await;
    let writer = spawn::<alter_audit_writer::Application>(alter_audit_writer::Config::for_tests(
        env.common(),
    ))
    .await;
    let mut api = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
        .await
        .unwrap();
    let sim = IdpSim::start().await.unwrap();
    let issuer = sim
        .create_tenant("adm", TenantKind::Clerk, TenantOptions::default())
        .unwrap()
        .issuer;

    // Each create is sent twice with one request ID, as a client retrying after a timeout.
    let create_app = admin::CreateAppRequest {
        name: "audited admin".into(),
        request_id: "app-1".into(),
    };
    let app = api
        .create_app(create_app.clone())
        .await
        .unwrap()
        .into_inner()
        .id;
    api.create_app(create_app).await.unwrap();
    let create_idp = admin::CreateIdpRequest {
        app_id: app.clone(),
        issuer,
        kind: admin::IdpKind::Clerk as i32,
        audience: AUDIENCE.into(),
        request_id: "idp-1".into(),
        ..Default::default()
    };
    api.create_idp(create_idp.clone()).await.unwrap();
    api.create_idp(create_idp).await.unwrap();
    api.set_claim_mappings(admin::SetClaimMappingsRequest {
        app_id: app.clone(),
        claim_mappings: Some(admin::ClaimMappings {
            user_id_claim: "sub".into(),
            group_claim: "org_id".into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    let create_grant = admin::CreateGrantRequest {
        app_id: app.clone(),
        credential_ref: "vault:reports".into(),
        principal_kind: PrincipalKind::System as i32,
        request_id: "grant-1".into(),
        ..Default::default()
    };
    let grant = api
        .create_grant(create_grant.clone())
        .await
        .unwrap()
        .into_inner();
    api.create_grant(create_grant).await.unwrap();
    for _ in 0..2 {
        api.revoke_grant(admin::RevokeGrantRequest {
            app_id: app.clone(),
            grant_id: grant.id.clone(),
        })
        .await
        .unwrap();
    }
    api.delete_idp(admin::DeleteIdpRequest {
        app_id: app.clone(),
    })
    .await
    .unwrap();

    let expected = [
        "app_created",
        "idp_created",
        "claim_mappings_changed",
        "grant_created",
        "grant_revoked",
        "idp_deleted",
    ];
    let events = eventually(
        "six admin changes in the trail",
        Duration::from_secs(15),
        || {
            let mut api = api.clone();
            let app = app.clone();
            async move {
                let events = api
                    .list_audit_events(admin::ListAuditEventsRequest {
                        app_id: app,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .events;
                (events.len() >= expected.len()).then_some(events)
            }
        },
    )
    .await;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *kinds.entry(event.kind.as_str()).or_default() += 1;
        assert_eq!(event.source, "admin", "{event:?}");
        let detail: Value = serde_json::from_str(&event.detail_json).unwrap();
        let actor = detail["kind"]
            .as_object()
            .and_then(|kind| kind.values().next())
            .and_then(|body| body["actor"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(actor, actor_of(ADMIN_TOKEN), "{detail}");
        assert!(
            !event.detail_json.contains(ADMIN_TOKEN),
            "the token is never recorded"
        );
    }
    let once: BTreeMap<&str, usize> = expected.iter().map(|k| (*k, 1)).collect();
    assert_eq!(kinds, once, "each change exactly once: {events:?}");

    writer.stop().await.unwrap();
    config_api.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn r_jwt_05_a_grant_made_through_config_api_while_the_jwks_is_down_leaves_tokens_verifying() {
    let env = TestEnv::new().await;
    let config_api = spawn::<alter_config_api::Application>(
        alter_config_api::Config::for_tests(env.common()).with_admin_token(ADMIN_TOKEN),
    )
    .await;
    let app =
        alter_jwt_verifier::Application::build(alter_jwt_verifier::Config::for_tests(env.common()))
            .await
            .unwrap();
    let applied = app.verifier().invalidations_applied();
    let verifier = alter_testkit::run(app);
    let mut api = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
        .await
        .unwrap();
    let sim = IdpSim::start().await.unwrap();
    let app = clerk_app(&mut api, &sim, "keys", AUDIENCE).await;
    // The IDP's own invalidation (a configuration change: keys forgotten) has arrived before
    // the first token is checked, as it would have long before in production.
    let mut applied = applied;
    tokio::time::timeout(Duration::from_secs(10), applied.wait_for(|n| *n >= 1))
        .await
        .unwrap()
        .unwrap();
    let token = sim
        .mint("keys", &TokenSpec::new("user_keys", json!(AUDIENCE)))
        .unwrap();
    let mut client = alter_jwt_verifier::connect(verifier.url()).await.unwrap();
    let verify = VerifyRequest {
        app_id: app.clone(),
        token,
    };
    let first = client.verify(verify.clone()).await.unwrap().into_inner();
    assert!(first.grants.is_empty());

    sim.inject_fault("keys", Fault::JwksDown { down: true })
        .unwrap();
    api.create_grant(admin::CreateGrantRequest {
        app_id: app.clone(),
        credential_ref: "db:everyone".into(),
        principal_kind: PrincipalKind::System as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    // The grant's invalidation drops the cached answer, so the token is checked again: with
    // the keys kept, it verifies and carries the new grant; were they forgotten, every token
    // of the app would be refused until the JWKS answers again.
    let answer = eventually(
        "the system grant in the answer",
        Duration::from_secs(10),
        || {
            let mut client = client.clone();
            let verify = verify.clone();
            async move {
                let answer = client
                    .verify(verify)
                    .await
                    .unwrap_or_else(|status| panic!("refused while the JWKS is down: {status:?}"))
                    .into_inner();
                (!answer.grants.is_empty()).then_some(answer)
            }
        },
    )
    .await;
    assert_eq!(answer.grants[0].credential_ref, "db:everyone");

    verifier.stop().await.unwrap();
    config_api.stop().await.unwrap();
    env.cleanup().await;
}
