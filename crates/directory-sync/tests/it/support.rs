//! The suite's kit: config-api (credentials and imports as an admin makes them),
//! directory-sync, grant-revoker (which applies the removals), audit-writer, one verifier,
//! and the IDP simulator holding the directory.

use std::collections::BTreeMap;
use std::time::Duration;

use alter_idp_sim::{IdpSim, NewGroup, NewUser, TenantKind, TenantOptions, TokenSpec, UserStatus};
use alter_proto::admin::v1 as pb;
use alter_proto::identity::v1::{PrincipalKind, VerifyRequest};
use alter_testkit::{Spawned, TestEnv, eventually, spawn};
use serde_json::{Value, json};

pub const TOKEN: &str = "alt_adm_directory-sync-tests";
pub const AUDIENCE: &str = "api://directory";
pub const TENANT: &str = "dir";
const PRIVATE_JWK: &str = include_str!("okta_test_key.jwk.json");

pub struct Kit {
    pub env: TestEnv,
    pub services: Vec<Spawned>,
    pub admin: alter_config_api::AdminClient,
    pub sim: IdpSim,
    pub verifier: String,
    pub app: String,
    pub kind: TenantKind,
}

fn private_jwk(kid: &str) -> String {
    let mut v: Value = serde_json::from_str(PRIVATE_JWK).unwrap();
    v["kid"] = json!(kid);
    v.to_string()
}

fn public_jwk(kid: &str) -> Value {
    let v: Value = serde_json::from_str(PRIVATE_JWK).unwrap();
    json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": v["n"], "e": v["e"] })
}

impl Kit {
    /// Every service, an app on a new simulator tenant of `kind` (group claims carrying IDs),
    /// and — unless `credential` is false — a working directory credential.
    pub async fn start(
        kind: TenantKind,
        credential: bool,
        tune: impl FnOnce(&mut alter_directory_sync::Settings),
    ) -> Self {
        let env = TestEnv::new().await;
        let mut common = env.common();
        common.secrets.master_key = Some(alter_secrets::MasterKey::generate().unwrap());
        let api = alter_config_api::Config::for_tests(common.clone()).with_admin_token(TOKEN);
        let config_api = spawn::<alter_config_api::Application>(api).await;
        let mut sync = alter_directory_sync::Config::for_tests(common.clone());
        // The simulator's limits are far above these; the providers' suite proves pacing.
        sync.directory_sync.requests_per_minute = 60_000;
        tune(&mut sync.directory_sync);
        let directory = spawn::<alter_directory_sync::Application>(sync).await;
        let revoker = spawn::<alter_grant_revoker::Application>(
            alter_grant_revoker::Config::for_tests(common.clone()),
        )
        .await;
        let writer = spawn::<alter_audit_writer::Application>(
            alter_audit_writer::Config::for_tests(common.clone()),
        )
        .await;
        let verifier =
            spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(common))
                .await;
        let admin = alter_config_api::connect_admin(&config_api.url(), Some(TOKEN))
            .await
            .unwrap();
        let sim = IdpSim::start().await.unwrap();
        let info = sim
            .create_tenant(TENANT, kind, TenantOptions::default())
            .unwrap();
        let (pb_kind, issuer, mappings) = match kind {
            TenantKind::Okta => (
                pb::IdpKind::Okta,
                sim.issuer(TENANT, Some("default")).unwrap(),
                Some(pb::ClaimMappings {
                    user_id_claim: "uid".into(),
                    group_claim: "groups".into(),
                    group_claim_stable_ids: true,
                    ..Default::default()
                }),
            ),
            TenantKind::Clerk => (
                pb::IdpKind::Clerk,
                info.issuer.clone(),
                Some(pb::ClaimMappings {
                    user_id_claim: "sub".into(),
                    group_claim: "org_id".into(),
                    ..Default::default()
                }),
            ),
            TenantKind::Auth0 => (pb::IdpKind::Auth0, info.issuer.clone(), None),
            TenantKind::Oidc => (pb::IdpKind::CustomOidc, info.issuer.clone(), None),
        };
        let mut admin_client = admin.clone();
        let app = admin_client
            .create_app(pb::CreateAppRequest {
                name: "directory".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        admin_client
            .create_idp(pb::CreateIdpRequest {
                app_id: app.clone(),
                issuer,
                kind: pb_kind.into(),
                audience: AUDIENCE.into(),
                claim_mappings: mappings,
                ..Default::default()
            })
            .await
            .unwrap();
        let verifier_url = verifier.url();
        let kit = Self {
            env,
            services: vec![config_api, directory, revoker, writer, verifier],
            admin,
            sim,
            verifier: verifier_url,
            app,
            kind,
        };
        if credential {
            let request = kit.good_credential();
            kit.admin
                .clone()
                .set_directory_credential(request)
                .await
                .unwrap();
        }
        kit
    }

    /// A credential the simulator accepts.
    pub fn good_credential(&self) -> pb::SetDirectoryCredentialRequest {
        use pb::set_directory_credential_request::Credential;
        let base = self.sim.tenant(TENANT).unwrap().base_url;
        let credential = match self.kind {
            TenantKind::Auth0 => {
                let c = self
                    .sim
                    .register_auth0_client(TENANT, &["read:users"])
                    .unwrap();
                Credential::Auth0(pb::Auth0DirectoryCredential {
                    domain: base,
                    client_id: c.client_id,
                    client_secret: c.client_secret,
                })
            }
            TenantKind::Clerk => Credential::Clerk(pb::ClerkDirectoryCredential {
                secret_key: self.sim.register_clerk_secret_key(TENANT).unwrap(),
                api_url: base,
            }),
            TenantKind::Okta => Credential::Okta(self.okta_credential(true)),
            TenantKind::Oidc => Credential::Clerk(pb::ClerkDirectoryCredential::default()),
        };
        pb::SetDirectoryCredentialRequest {
            app_id: self.app.clone(),
            credential: Some(credential),
        }
    }

    /// An Okta service app's credential; `admin_role` false: the app lacks the role.
    pub fn okta_credential(&self, admin_role: bool) -> pb::OktaDirectoryCredential {
        let kid = format!("k{}", rand_suffix());
        let app = self
            .sim
            .register_okta_service_app(
                TENANT,
                vec![public_jwk(&kid)],
                &["okta.users.read", "okta.groups.read"],
                admin_role,
            )
            .unwrap();
        pb::OktaDirectoryCredential {
            org_url: self.sim.tenant(TENANT).unwrap().base_url,
            client_id: app.client_id,
            private_jwk: private_jwk(&kid),
            key_id: String::new(),
        }
    }

    pub fn user(&self, id: &str, status: UserStatus) -> String {
        self.sim
            .add_user(
                TENANT,
                NewUser {
                    id: Some(id.to_owned()),
                    email: Some(format!("{id}@example.test")),
                    first_name: Some(id.to_owned()),
                    status: Some(status),
                    ..NewUser::default()
                },
            )
            .unwrap()
            .id
    }

    pub fn group(&self, id: &str, members: &[&str]) -> String {
        let group = self
            .sim
            .add_group(
                TENANT,
                NewGroup {
                    id: Some(id.to_owned()),
                    name: Some(format!("Group {id}")),
                    ..NewGroup::default()
                },
            )
            .unwrap()
            .id;
        for member in members {
            self.sim
                .add_membership(TENANT, &group, member, None)
                .unwrap();
        }
        group
    }

    /// Requests an import and waits for it to leave pending/running.
    pub async fn import(&self, dry_run: bool) -> pb::DirectoryImport {
        let run = self
            .admin
            .clone()
            .run_directory_import(pb::RunDirectoryImportRequest {
                app_id: self.app.clone(),
                dry_run,
            })
            .await
            .unwrap()
            .into_inner();
        self.until_done(&run.id).await
    }

    pub async fn until_done(&self, id: &str) -> pb::DirectoryImport {
        eventually("the import to end", Duration::from_secs(60), || async {
            let run = self
                .admin
                .clone()
                .get_directory_import(pb::GetDirectoryImportRequest {
                    app_id: self.app.clone(),
                    import_id: id.to_owned(),
                })
                .await
                .unwrap()
                .into_inner();
            (!matches!(run.state.as_str(), "pending" | "running")).then_some(run)
        })
        .await
    }

    /// Generates a directory of `users` users (no groups) in the tenant.
    pub fn generate(&self, users: usize) {
        self.sim
            .generate(
                TENANT,
                alter_idp_sim::GenerateSpec {
                    users,
                    groups: 0,
                    memberships_per_user: 0,
                },
            )
            .unwrap();
    }

    /// The app's latest imports, newest first.
    pub async fn imports(&self) -> Vec<pb::DirectoryImport> {
        self.admin
            .clone()
            .list_directory_imports(pb::ListDirectoryImportsRequest {
                app_id: self.app.clone(),
                limit: 10,
            })
            .await
            .unwrap()
            .into_inner()
            .imports
    }

    /// Every user of the app by external ID, with its status.
    pub async fn users(&self) -> BTreeMap<String, i32> {
        let mut out = BTreeMap::new();
        let mut token = String::new();
        loop {
            let page = self
                .admin
                .clone()
                .list_users(pb::ListUsersRequest {
                    app_id: self.app.clone(),
                    page_size: 1000,
                    page_token: token.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            for user in page.users {
                out.insert(user.external_id, user.status);
            }
            if page.next_page_token.is_empty() {
                return out;
            }
            token = page.next_page_token;
        }
    }

    /// (table, row versions) of the directory's tables and the outbox's messages: equal before and
    /// after means nothing was written.
    pub async fn row_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for (table, sql) in [
            (
                "users",
                "SELECT xmin::text || ':' || ctid::text FROM users ORDER BY 1",
            ),
            (
                "groups",
                "SELECT xmin::text || ':' || ctid::text FROM groups ORDER BY 1",
            ),
            (
                "memberships",
                "SELECT xmin::text || ':' || ctid::text FROM memberships ORDER BY 1",
            ),
            (
                "outbox",
                "SELECT xmin::text || ':' || ctid::text FROM outbox ORDER BY 1",
            ),
        ] {
            let versions: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(self.env.db.pool())
                .await
                .unwrap();
            out.push((table.to_owned(), versions));
        }
        out
    }

    pub fn token(&self, sub: &str, groups: &[&str]) -> String {
        let mut spec = TokenSpec::new(sub, json!(AUDIENCE));
        match self.kind {
            TenantKind::Okta => {
                spec.auth_server = Some("default".into());
                spec = spec.claim("uid", json!(sub)).claim("groups", json!(groups));
            }
            TenantKind::Clerk => {
                if let Some(org) = groups.first() {
                    spec = spec.claim("org_id", json!(org));
                }
            }
            _ => {}
        }
        self.sim.mint(TENANT, &spec).unwrap()
    }

    pub async fn verify(
        &self,
        token: &str,
    ) -> Result<alter_proto::identity::v1::VerifyResponse, tonic::Status> {
        alter_jwt_verifier::connect(self.verifier.clone())
            .await
            .unwrap()
            .verify(VerifyRequest {
                app_id: self.app.clone(),
                token: token.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn grant(&self, kind: PrincipalKind, principal: &str, credential: &str) {
        self.admin
            .clone()
            .create_grant(pb::CreateGrantRequest {
                app_id: self.app.clone(),
                credential_ref: credential.into(),
                principal_kind: kind as i32,
                principal_id: principal.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    pub async fn finish(self) {
        for service in self.services {
            service.stop().await.unwrap();
        }
        self.env.cleanup().await;
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(1);
    h.finish()
}
