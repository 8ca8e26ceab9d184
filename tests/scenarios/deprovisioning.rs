//! Real-time deprovisioning end to end: the IDP simulator sends real deliveries to
//! webhook-ingest, grant-revoker applies them, and both verifier replicas refuse or resolve
//! accordingly on the next call; a redelivery after JetStream's duplicate window has no
//! second effect; one app's webhook never touches another app's users (R-HOOK-02..06,
//! R-REV-02..05, R-JWT-08/10).

use alter_idp_sim::{IdpSim, LogStreamFormat, TenantKind, TenantOptions, TokenSpec, WebhookTarget};
use alter_proto::admin::v1 as admin;
use alter_proto::identity::v1::{PrincipalKind, RefusalReason, VerifyRequest};
use alter_testkit::{Spawned, TestEnv, eventually, spawn};
use serde_json::json;
use std::time::Duration;

const ADMIN_TOKEN: &str = "alt_adm_e2e-deprovisioning";
const AUDIENCE: &str = "api://deprov";
const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Stack {
    env: TestEnv,
    services: Vec<Spawned>,
    verifiers: [String; 2],
    ingest: String,
    admin: alter_config_api::AdminClient,
    sim: IdpSim,
}

impl Stack {
    /// Every service of the deprovisioning path, the bus with a short duplicate window so a
    /// redelivery can arrive after it, as providers' hours-later retries do.
    async fn start() -> Self {
        let env = TestEnv::new().await;
        let mut common = env.common();
        common.secrets.master_key = Some(alter_secrets::MasterKey::generate().unwrap());
        let ingest = spawn::<alter_webhook_ingest::Application>(
            alter_webhook_ingest::Config::for_tests(common.clone()),
        )
        .await;
        let mut api =
            alter_config_api::Config::for_tests(common.clone()).with_admin_token(ADMIN_TOKEN);
        api.config_api.public_webhook_base_url = ingest.url();
        let config_api = spawn::<alter_config_api::Application>(api).await;
        let revoker = spawn::<alter_grant_revoker::Application>(
            alter_grant_revoker::Config::for_tests(common.clone()),
        )
        .await;
        let writer = spawn::<alter_audit_writer::Application>(
            alter_audit_writer::Config::for_tests(common.clone()),
        )
        .await;
        let v1 = spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(
            common.clone(),
        ))
        .await;
        let v2 =
            spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(common))
                .await;
        let admin = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
            .await
            .unwrap();
        let verifiers = [v1.url(), v2.url()];
        let ingest_url = ingest.url();
        Self {
            env,
            services: vec![ingest, config_api, revoker, writer, v1, v2],
            verifiers,
            ingest: ingest_url,
            admin,
            sim: IdpSim::start().await.unwrap(),
        }
    }

    /// An app on a new tenant of `kind`, webhooks enabled; returns (app, endpoint, secret).
    async fn app(&mut self, tenant: &str, kind: TenantKind) -> (String, String, String) {
        let options = TenantOptions {
            webhook_secret: Some(SVIX_SECRET.to_owned()),
            ..TenantOptions::default()
        };
        let info = self.sim.create_tenant(tenant, kind, options).unwrap();
        let (pb_kind, issuer, pasted, mappings) = match kind {
            TenantKind::Auth0 => (admin::IdpKind::Auth0, info.issuer, "", None),
            TenantKind::Clerk => (
                admin::IdpKind::Clerk,
                info.issuer,
                SVIX_SECRET,
                Some(admin::ClaimMappings {
                    user_id_claim: "sub".into(),
                    group_claim: "org_id".into(),
                    ..Default::default()
                }),
            ),
            TenantKind::Okta => (
                admin::IdpKind::Okta,
                self.sim.issuer(tenant, Some("default")).unwrap(),
                "okta-hook-value",
                None,
            ),
            TenantKind::Oidc => (admin::IdpKind::CustomOidc, info.issuer, "", None),
        };
        let app = self
            .admin
            .create_app(admin::CreateAppRequest {
                name: tenant.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        self.admin
            .create_idp(admin::CreateIdpRequest {
                app_id: app.clone(),
                issuer,
                kind: pb_kind.into(),
                audience: AUDIENCE.into(),
                claim_mappings: mappings,
                ..Default::default()
            })
            .await
            .unwrap();
        let issued = self
            .admin
            .enable_webhooks(admin::EnableWebhooksRequest {
                app_id: app.clone(),
                secret: pasted.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let url = issued.status.unwrap().endpoint_url;
        assert!(url.starts_with(&self.ingest));
        let secret = if issued.secret.is_empty() {
            pasted.to_owned()
        } else {
            issued.secret
        };
        (app, url, secret)
    }

    fn token(
        &self,
        tenant: &str,
        kind: TenantKind,
        sub: &str,
        extra: &[(&str, serde_json::Value)],
    ) -> String {
        let mut spec = TokenSpec::new(sub, json!(AUDIENCE));
        if kind == TenantKind::Okta {
            // Okta access tokens name the user in `uid` (the default user-ID mapping).
            spec.auth_server = Some("default".into());
            spec = spec.claim("uid", json!(sub));
        }
        for (k, v) in extra {
            spec = spec.claim(k, v.clone());
        }
        self.sim.mint(tenant, &spec).unwrap()
    }

    async fn verify(
        &self,
        replica: usize,
        app: &str,
        token: &str,
    ) -> Result<alter_proto::identity::v1::VerifyResponse, tonic::Status> {
        alter_jwt_verifier::connect(self.verifiers[replica].clone())
            .await
            .unwrap()
            .verify(VerifyRequest {
                app_id: app.into(),
                token: token.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Waits until every replica gives `reason` for the token (the change travels
    /// webhook-ingest → JetStream → grant-revoker → NATS → verifiers).
    async fn refused_everywhere(&self, app: &str, token: &str, reason: RefusalReason) {
        for replica in 0..2 {
            eventually(
                &format!("replica {replica} refuses with {reason:?}"),
                Duration::from_secs(15),
                || async move {
                    match self.verify(replica, app, token).await {
                        Err(status) => {
                            let detail = alter_jwt_verifier::refusal_of(&status);
                            (detail.map(|d| d.reason()) == Some(reason)).then_some(())
                        }
                        Ok(_) => None,
                    }
                },
            )
            .await;
        }
    }

    async fn finish(self) {
        for service in self.services {
            service.stop().await.unwrap();
        }
        self.env.cleanup().await;
    }
}

fn once(url: &str, authorization: Option<&str>) -> WebhookTarget {
    WebhookTarget {
        url: url.to_owned(),
        authorization: authorization.map(str::to_owned),
        retry_delays_ms: Some(Vec::new()),
        ..WebhookTarget::default()
    }
}

#[tokio::test]
async fn r_hook_02_r_rev_02_an_auth0_deletion_revokes_grants_on_every_replica_once() {
    let mut s = Stack::start().await;
    let (app, url, secret) = s.app("deprov-a0", TenantKind::Auth0).await;
    let token = s.token("deprov-a0", TenantKind::Auth0, "auth0|dana", &[]);
    let user = s.verify(0, &app, &token).await.unwrap().user.unwrap().id;
    s.admin
        .create_grant(admin::CreateGrantRequest {
            app_id: app.clone(),
            credential_ref: "db:orders".into(),
            principal_kind: PrincipalKind::User as i32,
            principal_id: user.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    for replica in 0..2 {
        let answer = s.verify(replica, &app, &token).await.unwrap();
        assert_eq!(answer.grants.len(), 1, "replica {replica}");
    }
    let record = json!({ "log_id": "900555", "type": "sdu", "user_id": "auth0|dana" });
    let report = s
        .sim
        .send_auth0_log_stream(
            "deprov-a0",
            &once(&url, Some(&secret)),
            LogStreamFormat::Jsonarray,
            vec![record.clone()],
        )
        .await
        .unwrap();
    assert!(report.delivered, "{report:?}");
    s.refused_everywhere(&app, &token, RefusalReason::UserDeprovisioned)
        .await;
    let detail = s
        .admin
        .get_user(admin::GetUserRequest {
            app_id: app.clone(),
            user_id: user.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        detail.grants.is_empty(),
        "R-REV-02: the user's grants are revoked"
    );

    // Redelivered: one effect, one audit record (past JetStream's duplicate window the
    // consumer's own record of processed events does the same: grant-revoker's suite).
    let again = s
        .sim
        .send_auth0_log_stream(
            "deprov-a0",
            &once(&url, Some(&secret)),
            LogStreamFormat::Jsonarray,
            vec![record],
        )
        .await
        .unwrap();
    assert!(again.delivered);
    let rows = eventually(
        "the deprovisioning in the audit trail",
        Duration::from_secs(15),
        || {
            let mut admin = s.admin.clone();
            let app = app.clone();
            async move {
                let events = admin
                    .list_audit_events(admin::ListAuditEventsRequest {
                        app_id: app,
                        kind: "user_deprovisioned".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .events;
                (!events.is_empty()).then_some(events)
            }
        },
    )
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].source, "webhook");
    s.finish().await;
}

#[tokio::test]
async fn r_hook_04_r_rev_03_okta_suspension_hides_grants_and_unsuspension_restores_them() {
    let mut s = Stack::start().await;
    let (app, url, secret) = s.app("deprov-okta", TenantKind::Okta).await;
    let token = s.token("deprov-okta", TenantKind::Okta, "00u7", &[]);
    s.verify(0, &app, &token).await.unwrap();
    let event = |kind: &str| {
        json!({
            "eventType": kind,
            "target": [{ "id": "00u7", "type": "User", "alternateId": "o@example.com", "displayName": "O" }],
        })
    };
    let sent = s
        .sim
        .send_okta_event_hook(
            "deprov-okta",
            &once(&url, Some(&secret)),
            vec![event("user.lifecycle.suspend")],
        )
        .await
        .unwrap();
    assert!(sent.delivered, "{sent:?}");
    s.refused_everywhere(&app, &token, RefusalReason::UserSuspended)
        .await;
    s.sim.advance_clock(1);
    let back = s
        .sim
        .send_okta_event_hook(
            "deprov-okta",
            &once(&url, Some(&secret)),
            vec![event("user.lifecycle.unsuspend")],
        )
        .await
        .unwrap();
    assert!(back.delivered);
    for replica in 0..2 {
        eventually("active again", Duration::from_secs(15), || {
            let (s, app, token) = (&s, app.clone(), token.clone());
            async move { s.verify(replica, &app, &token).await.ok() }
        })
        .await;
    }
    s.finish().await;
}

#[tokio::test]
async fn r_hook_03_r_rev_04_r_rev_05_clerk_membership_and_organization_deletions_end_group_access()
{
    let mut s = Stack::start().await;
    let (app, url, _) = s.app("deprov-clerk", TenantKind::Clerk).await;
    let token = s.token(
        "deprov-clerk",
        TenantKind::Clerk,
        "user_c1",
        &[("org_id", json!("org_9"))],
    );
    let other = s.token(
        "deprov-clerk",
        TenantKind::Clerk,
        "user_c2",
        &[("org_id", json!("org_9"))],
    );
    let c1 = s.verify(0, &app, &token).await.unwrap().user.unwrap().id;
    let answer = s.verify(0, &app, &other).await.unwrap();
    let group = answer.groups[0].id.clone();
    s.admin
        .create_grant(admin::CreateGrantRequest {
            app_id: app.clone(),
            credential_ref: "org:reports".into(),
            principal_kind: PrincipalKind::Group as i32,
            principal_id: group,
            ..Default::default()
        })
        .await
        .unwrap();
    let has_grant = |answer: &alter_proto::identity::v1::VerifyResponse| !answer.grants.is_empty();
    for replica in 0..2 {
        eventually("the group grant", Duration::from_secs(10), || {
            let (s, app, other) = (&s, app.clone(), other.clone());
            async move { s.verify(replica, &app, &other).await.ok().filter(has_grant) }
        })
        .await;
    }
    // R-REV-04: user_c1 leaves the organization: the membership (and with it the group's
    // grant) is gone for them; user_c2 keeps it.
    let left = s
        .sim
        .send_clerk_webhook(
            "deprov-clerk",
            &once(&url, None),
            "organizationMembership.deleted",
            json!({
                "object": "organization_membership",
                "organization": { "id": "org_9", "object": "organization" },
                "public_user_data": { "user_id": "user_c1" },
            }),
            &[],
        )
        .await
        .unwrap();
    assert!(left.delivered, "{left:?}");
    eventually("c1 no longer a member", Duration::from_secs(15), || {
        let mut admin = s.admin.clone();
        let (app, c1) = (app.clone(), c1.clone());
        async move {
            let detail = admin
                .get_user(admin::GetUserRequest {
                    app_id: app,
                    user_id: c1,
                })
                .await
                .unwrap()
                .into_inner();
            (detail.groups.is_empty() && detail.grants.is_empty()).then_some(())
        }
    })
    .await;
    for replica in 0..2 {
        assert!(has_grant(&s.verify(replica, &app, &other).await.unwrap()));
    }
    // R-REV-05: the organization is deleted: its group grants are revoked for everyone.
    let deleted = s
        .sim
        .send_clerk_webhook(
            "deprov-clerk",
            &once(&url, None),
            "organization.deleted",
            json!({ "id": "org_9", "object": "organization", "deleted": true }),
            &[],
        )
        .await
        .unwrap();
    assert!(deleted.delivered);
    for replica in 0..2 {
        eventually("no group grant for c2", Duration::from_secs(15), || {
            let s = &s;
            let app = app.clone();
            let other = other.clone();
            async move {
                s.verify(replica, &app, &other)
                    .await
                    .ok()
                    .filter(|a| a.grants.is_empty())
            }
        })
        .await;
    }
    s.finish().await;
}

#[tokio::test]
async fn a_webhook_to_one_app_never_touches_another_apps_users_with_the_same_external_ids() {
    let mut s = Stack::start().await;
    let (one, url_one, secret_one) = s.app("iso-a", TenantKind::Auth0).await;
    let (two, _, _) = s.app("iso-b", TenantKind::Auth0).await;
    let token_one = s.token("iso-a", TenantKind::Auth0, "auth0|same", &[]);
    let token_two = s.token("iso-b", TenantKind::Auth0, "auth0|same", &[]);
    s.verify(0, &one, &token_one).await.unwrap();
    s.verify(0, &two, &token_two).await.unwrap();
    let report = s
        .sim
        .send_auth0_log_stream(
            "iso-a",
            &once(&url_one, Some(&secret_one)),
            LogStreamFormat::Jsonarray,
            vec![json!({ "log_id": "900777", "type": "sdu", "user_id": "auth0|same" })],
        )
        .await
        .unwrap();
    assert!(report.delivered);
    s.refused_everywhere(&one, &token_one, RefusalReason::UserDeprovisioned)
        .await;
    for replica in 0..2 {
        s.verify(replica, &two, &token_two)
            .await
            .expect("the other app's user of the same subject is untouched");
    }
    s.finish().await;
}

#[tokio::test]
async fn r_hook_03_r_hook_04_r_hook_05_profile_updates_deactivations_and_custom_events_apply() {
    let mut s = Stack::start().await;
    // Clerk: user.updated syncs email and display name; user.deleted deprovisions.
    let (clerk, clerk_url, _) = s.app("more-clerk", TenantKind::Clerk).await;
    let token = s.token("more-clerk", TenantKind::Clerk, "user_up", &[]);
    let user = s.verify(0, &clerk, &token).await.unwrap().user.unwrap().id;
    let updated = s
        .sim
        .send_clerk_webhook(
            "more-clerk",
            &once(&clerk_url, None),
            "user.updated",
            json!({
                "object": "user", "id": "user_up", "first_name": "Dana", "last_name": "Quinn",
                "primary_email_address_id": "idn_1",
                "email_addresses": [{ "id": "idn_1", "email_address": "dana@example.com" }],
            }),
            &[],
        )
        .await
        .unwrap();
    assert!(updated.delivered, "{updated:?}");
    eventually("the profile synced", Duration::from_secs(15), || {
        let mut admin = s.admin.clone();
        let (app, user) = (clerk.clone(), user.clone());
        async move {
            let detail = admin
                .get_user(admin::GetUserRequest {
                    app_id: app,
                    user_id: user,
                })
                .await
                .unwrap()
                .into_inner();
            let u = detail.user.unwrap_or_default();
            (u.email == "dana@example.com" && u.display_name == "Dana Quinn").then_some(())
        }
    })
    .await;
    let deleted = s
        .sim
        .send_clerk_webhook(
            "more-clerk",
            &once(&clerk_url, None),
            "user.deleted",
            json!({ "id": "user_up", "object": "user", "deleted": true }),
            &[],
        )
        .await
        .unwrap();
    assert!(deleted.delivered);
    s.refused_everywhere(&clerk, &token, RefusalReason::UserDeprovisioned)
        .await;

    // Okta: a deactivation deprovisions.
    let (okta, okta_url, okta_secret) = s.app("more-okta", TenantKind::Okta).await;
    let okta_token = s.token("more-okta", TenantKind::Okta, "00u8", &[]);
    s.verify(1, &okta, &okta_token).await.unwrap();
    let deactivated = s
        .sim
        .send_okta_event_hook(
            "more-okta",
            &once(&okta_url, Some(&okta_secret)),
            vec![json!({
                "eventType": "user.lifecycle.deactivate",
                "target": [{ "id": "00u8", "type": "User", "alternateId": "e@example.com", "displayName": "E" }],
            })],
        )
        .await
        .unwrap();
    assert!(deactivated.delivered, "{deactivated:?}");
    s.refused_everywhere(&okta, &okta_token, RefusalReason::UserDeprovisioned)
        .await;

    // Custom OIDC: our documented format (docs/webhooks-custom-oidc.md), with a Bearer secret.
    let (oidc, oidc_url, oidc_secret) = s.app("more-oidc", TenantKind::Oidc).await;
    let oidc_token = s.token("more-oidc", TenantKind::Oidc, "248289761001", &[]);
    s.verify(0, &oidc, &oidc_token).await.unwrap();
    let body = json!({ "events": [{
        "id": "evt_custom_1", "type": "user.deprovisioned",
        "occurred_at": "2026-12-01T10:00:00Z", "user_id": "248289761001",
    }]});
    let answer = reqwest::Client::new()
        .post(&oidc_url)
        .header("authorization", format!("Bearer {oidc_secret}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    s.refused_everywhere(&oidc, &oidc_token, RefusalReason::UserDeprovisioned)
        .await;
    s.finish().await;
}
