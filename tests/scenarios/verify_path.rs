//! The verify path across services: an admin configures the app through config-api, an end
//! user's token is verified by jwt-verifier, and admin changes reach the verifier through
//! NATS invalidations — no restart, no TTL.

use alter_idp_sim::{IdpSim, TenantKind, TenantOptions, TokenSpec};
use alter_proto::admin::v1 as admin;
use alter_proto::identity::v1::{PrincipalKind, VerifyRequest, VerifyResponse};
use alter_testkit::{Spawned, TestEnv, eventually, spawn};
use serde_json::json;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "alt_adm_e2e-admin-token";
const AUDIENCE: &str = "api://orders";

struct Stack {
    env: TestEnv,
    config_api: Spawned,
    /// Two replicas: invalidations must reach every one of them (R-JWT-10).
    verifiers: [Spawned; 2],
    admin: alter_config_api::AdminClient,
    sim: IdpSim,
}

impl Stack {
    async fn start() -> Self {
        let env = TestEnv::new().await;
        let config_api = spawn::<alter_config_api::Application>(
            alter_config_api::Config::for_tests(env.common()).with_admin_token(ADMIN_TOKEN),
        )
        .await;
        let replica = || {
            spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(
                env.common(),
            ))
        };
        let verifiers = [replica().await, replica().await];
        let admin = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN))
            .await
            .unwrap();
        let sim = IdpSim::start().await.unwrap();
        Self {
            env,
            config_api,
            verifiers,
            admin,
            sim,
        }
    }

    /// An app whose IDP is a Clerk tenant of the simulator, with `groups` as the group claim.
    async fn clerk_app(&mut self, name: &str) -> String {
        let issuer = self
            .sim
            .create_tenant(name, TenantKind::Clerk, TenantOptions::default())
            .unwrap()
            .issuer;
        let app = self
            .admin
            .create_app(admin::CreateAppRequest {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        self.admin
            .create_idp(admin::CreateIdpRequest {
                app_id: app.id.clone(),
                issuer,
                kind: admin::IdpKind::Clerk as i32,
                audience: AUDIENCE.into(),
                jwks_uri: String::new(),
                claim_mappings: Some(admin::ClaimMappings {
                    user_id_claim: "sub".into(),
                    group_claim: "groups".into(),
                    email_claim: "email".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
        app.id
    }

    fn token(&self, tenant: &str, sub: &str, org: &str) -> String {
        let spec = TokenSpec::new(sub, json!(AUDIENCE))
            .claim("groups", json!(org))
            .claim("email", json!(format!("{sub}@example.com")));
        self.sim.mint(tenant, &spec).unwrap()
    }

    /// Verifies on the first replica.
    async fn verify(&self, app_id: &str, token: &str) -> Result<VerifyResponse, tonic::Status> {
        self.verify_on(0, app_id, token).await
    }

    async fn verify_on(
        &self,
        replica: usize,
        app_id: &str,
        token: &str,
    ) -> Result<VerifyResponse, tonic::Status> {
        let mut client = alter_jwt_verifier::connect(self.verifiers[replica].url())
            .await
            .unwrap();
        client
            .verify(VerifyRequest {
                app_id: app_id.into(),
                token: token.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Verifies until `done` holds. The change travels config-api → NATS → verifier; this
    /// bounds how long that may take (far above the sub-millisecond it takes here) and fails
    /// the test beyond it.
    async fn verify_until(
        &self,
        replica: usize,
        app_id: &str,
        token: &str,
        done: impl Fn(&VerifyResponse) -> bool,
    ) -> Duration {
        let start = Instant::now();
        let done = &done;
        eventually(
            &format!("the change to be visible on replica {replica}"),
            Duration::from_secs(2),
            move || async move {
                let answer = self.verify_on(replica, app_id, token).await.unwrap();
                if done(&answer) { Ok(()) } else { Err(answer) }
            },
        )
        .await;
        start.elapsed()
    }

    async fn finish(self) {
        self.config_api.stop().await.unwrap();
        for verifier in self.verifiers {
            verifier.stop().await.unwrap();
        }
        self.env.cleanup().await;
    }
}

fn credential_refs(answer: &VerifyResponse) -> Vec<String> {
    let mut refs: Vec<String> = answer
        .grants
        .iter()
        .map(|g| g.credential_ref.clone())
        .collect();
    refs.sort();
    refs
}

#[tokio::test]
async fn r_jwt_10_r_cfg_08_admin_configures_verifier_resolves_and_revocation_reaches_it_without_restart()
 {
    let mut stack = Stack::start().await;
    let app = stack.clerk_app("acme").await;
    let token = stack.token("acme", "user_2abc", "org_eng");

    // First sign-in: the user and their organization are provisioned just in time.
    let first = stack.verify(&app, &token).await.unwrap();
    let user = first.user.clone().unwrap();
    assert_eq!(user.external_id, "user_2abc");
    assert_eq!(user.email, "user_2abc@example.com");
    assert_eq!(first.groups.len(), 1);
    assert_eq!(first.groups[0].external_id, "org_eng");
    assert!(first.grants.is_empty());

    // R-CFG-08: that sign-in locked the claim mappings.
    let locked = stack
        .admin
        .set_claim_mappings(admin::SetClaimMappingsRequest {
            app_id: app.clone(),
            claim_mappings: Some(admin::ClaimMappings {
                user_id_claim: "email".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(locked.code(), tonic::Code::FailedPrecondition, "{locked:?}");
    assert!(locked.message().contains("locked"), "{}", locked.message());

    // Grants bound to the user, to the user's group (Clerk: eligible) and to the app.
    let grant = |kind: PrincipalKind, principal: &str, cred: &str| admin::CreateGrantRequest {
        app_id: app.clone(),
        credential_ref: cred.into(),
        principal_kind: kind as i32,
        principal_id: principal.into(),
        expires_at: String::new(),
        ..Default::default()
    };
    let user_grant = stack
        .admin
        .create_grant(grant(PrincipalKind::User, &user.id, "cred-user"))
        .await
        .unwrap()
        .into_inner();
    stack
        .admin
        .create_grant(grant(
            PrincipalKind::Group,
            &first.groups[0].id,
            "cred-group",
        ))
        .await
        .unwrap();
    stack
        .admin
        .create_grant(grant(PrincipalKind::System, "", "cred-system"))
        .await
        .unwrap();

    // Both replicas hold the answer in their token caches before anything changes.
    let cached = stack.verify_on(1, &app, &token).await.unwrap();
    assert_eq!(cached.user.unwrap().id, user.id);

    // R-JWT-09/10: the same (cached) token now carries all three on both replicas, no restart.
    for replica in 0..2 {
        stack
            .verify_until(replica, &app, &token, |a| a.grants.len() == 3)
            .await;
        let answer = stack.verify_on(replica, &app, &token).await.unwrap();
        assert_eq!(
            credential_refs(&answer),
            ["cred-group", "cred-system", "cred-user"]
        );
    }

    // R-JWT-10: revoking through config-api removes it from the answers every replica cached.
    stack
        .admin
        .revoke_grant(admin::RevokeGrantRequest {
            app_id: app.clone(),
            grant_id: user_grant.id.clone(),
        })
        .await
        .unwrap();
    for replica in 0..2 {
        let took = stack
            .verify_until(replica, &app, &token, |a| a.grants.len() == 2)
            .await;
        let answer = stack.verify_on(replica, &app, &token).await.unwrap();
        assert_eq!(
            credential_refs(&answer),
            ["cred-group", "cred-system"],
            "replica {replica}"
        );
        assert!(
            took < Duration::from_secs(1),
            "revocation took {took:?} to reach replica {replica}"
        );
    }

    stack.finish().await;
}

#[tokio::test]
async fn an_apps_token_never_resolves_in_another_app() {
    let mut stack = Stack::start().await;
    let app_a = stack.clerk_app("tenant-a").await;
    let app_b = stack.clerk_app("tenant-b").await;
    let token_a = stack.token("tenant-a", "user_shared", "org_1");
    let token_b = stack.token("tenant-b", "user_shared", "org_1");

    let a = stack.verify(&app_a, &token_a).await.unwrap();
    let refused = stack.verify(&app_b, &token_a).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    // The same subject at another app's IDP is another user.
    let b = stack.verify(&app_b, &token_b).await.unwrap();
    assert_ne!(a.user.unwrap().id, b.user.unwrap().id);

    // App B's admin view has only its own user.
    let users = stack
        .admin
        .list_users(admin::ListUsersRequest {
            app_id: app_b.clone(),
            page_size: 50,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(users.len(), 1);
    stack.finish().await;
}
