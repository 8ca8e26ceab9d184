//! The provisioning audit trail end to end: a user provisioned just in time by jwt-verifier
//! is published to `ALTER_AUDIT`, written by audit-writer and readable through the admin API
//! (R-JWT-06, R-AUD-01, R-AUD-03).

use alter_idp_sim::{IdpSim, TenantKind, TenantOptions, TokenSpec};
use alter_proto::admin::v1 as admin;
use alter_proto::identity::v1::VerifyRequest;
use alter_testkit::{TestEnv, eventually, spawn};
use serde_json::json;
use std::time::Duration;

const ADMIN_TOKEN: &str = "alt_adm_e2e-audit-token";
const AUDIENCE: &str = "api://audit";

/// The events `query` finds, or `None` while there are none yet.
async fn audit_events(
    admin_api: &alter_config_api::AdminClient,
    query: &admin::ListAuditEventsRequest,
) -> Option<Vec<admin::AuditEvent>> {
    let events = admin_api
        .clone()
        .list_audit_events(query.clone())
        .await
        .unwrap()
        .into_inner()
        .events;
    (!events.is_empty()).then_some(events)
}

#[tokio::test]
async fn r_jwt_06_r_aud_01_r_rev_06_provisioning_and_admin_revocation_appear_in_the_audit_trail() {
    let env = TestEnv::new().await;
    let config_api = spawn::<alter_config_api::Application>(
        alter_config_api::Config::for_tests(env.common()).with_admin_token(ADMIN_TOKEN),
    )
    .await;
    let verifier = spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(
        env.common(),
    ))
    .await;
    let writer = spawn::<alter_audit_writer::Application>(alter_audit_writer::Config::for_tests(
        env.common(),
    ))
    .await;
    let mut admin_api = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
        .await
        .unwrap();
    let sim = IdpSim::start().await.unwrap();

    let issuer = sim
        .create_tenant("audited", TenantKind::Clerk, TenantOptions::default())
        .unwrap()
        .issuer;
    let app = admin_api
        .create_app(admin::CreateAppRequest {
            name: "audited".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    admin_api
        .create_idp(admin::CreateIdpRequest {
            app_id: app.clone(),
            issuer,
            kind: admin::IdpKind::Clerk as i32,
            audience: AUDIENCE.into(),
            jwks_uri: String::new(),
            claim_mappings: Some(admin::ClaimMappings {
                user_id_claim: "sub".into(),
                email_claim: "email".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();

    // First sign-in of a new user: provisioned just in time.
    let token = sim
        .mint(
            "audited",
            &TokenSpec::new("user_audit", json!(AUDIENCE))
                .claim("email", json!("user_audit@example.com")),
        )
        .unwrap();
    let answer = alter_jwt_verifier::connect(verifier.url())
        .await
        .unwrap()
        .verify(VerifyRequest {
            app_id: app.clone(),
            token,
        })
        .await
        .unwrap()
        .into_inner();
    let user_id = answer.user.unwrap().id;

    // The record travels verifier → NATS → audit-writer → Postgres; bound how long it may take.
    let query = admin::ListAuditEventsRequest {
        app_id: app.clone(),
        user_id: user_id.clone(),
        kind: "user_provisioned".into(),
        ..Default::default()
    };
    let events = eventually(
        &format!("user_provisioned for {user_id} in the audit trail"),
        Duration::from_secs(10),
        || audit_events(&admin_api, &query),
    )
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.kind, "user_provisioned");
    assert_eq!(event.source, "jwt");
    assert_eq!(event.user_id, user_id);
    assert_eq!(event.app_id, app);
    assert!(!event.event_id.is_empty());
    let detail: serde_json::Value = serde_json::from_str(&event.detail_json).unwrap();
    assert_eq!(detail["event_id"], json!(event.event_id));

    // R-REV-06: an admin revocation lands in the trail with its cause, once — even when the
    // (idempotent) call is repeated.
    let grant = admin_api
        .create_grant(admin::CreateGrantRequest {
            app_id: app.clone(),
            credential_ref: "cred-audited".into(),
            principal_kind: alter_proto::identity::v1::PrincipalKind::User as i32,
            principal_id: user_id.clone(),
            expires_at: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for _ in 0..2 {
        admin_api
            .revoke_grant(admin::RevokeGrantRequest {
                app_id: app.clone(),
                grant_id: grant.id.clone(),
            })
            .await
            .unwrap();
    }
    // A marker published after the retry: once it is in the trail, so is anything the retry
    // could have added (the writer takes the stream in order).
    let marker = sim
        .mint("audited", &TokenSpec::new("user_marker", json!(AUDIENCE)))
        .unwrap();
    let marker_user = alter_jwt_verifier::connect(verifier.url())
        .await
        .unwrap()
        .verify(VerifyRequest {
            app_id: app.clone(),
            token: marker,
        })
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap()
        .id;
    let marker_query = admin::ListAuditEventsRequest {
        app_id: app.clone(),
        user_id: marker_user,
        kind: "user_provisioned".into(),
        ..Default::default()
    };
    eventually(
        "the marker in the audit trail",
        Duration::from_secs(10),
        || audit_events(&admin_api, &marker_query),
    )
    .await;
    let events = admin_api
        .list_audit_events(admin::ListAuditEventsRequest {
            app_id: app.clone(),
            kind: "grant_revoked".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].source, "admin");
    assert_eq!(events[0].user_id, user_id);
    let detail: serde_json::Value = serde_json::from_str(&events[0].detail_json).unwrap();
    assert_eq!(
        detail["kind"]["grant_revoked"]["grant_id"],
        json!(grant.id),
        "{detail}"
    );

    writer.stop().await.unwrap();
    verifier.stop().await.unwrap();
    config_api.stop().await.unwrap();
    env.cleanup().await;
}
