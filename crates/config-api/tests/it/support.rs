//! The kit every test sets up through: the service spawned with an admin token, an
//! authenticated client, direct store access (to play the verifier's part) and an IdpSim.

use alter_config_api::{Application, Config};
use alter_core::{AppId, EventSource, ExternalGroupId, ExternalUserId, GroupId, IdpId, UserId};
use alter_idp_sim::{IdpSim, TenantKind, TenantOptions};
use alter_proto::admin::v1 as pb;
use alter_store::{GroupStore, GroupUpsert, PgStore, UserStore, UserUpsert};
use alter_testkit::{Spawned, TestEnv, spawn};

pub const TOKEN: &str = "alt_adm_test-token-for-config-api";

pub type Client = alter_config_api::AdminClient;

pub struct Harness {
    pub env: TestEnv,
    pub service: Spawned,
    pub client: Client,
    pub store: PgStore,
    pub sim: IdpSim,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A harness whose config-api configuration `configure` adjusts first.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let env = TestEnv::new().await;
        let mut config = Config::for_tests(env.common()).with_admin_token(TOKEN);
        configure(&mut config);
        let service = spawn::<Application>(config).await;
        let client = client(&service, Some(TOKEN)).await;
        let store = env.db.store();
        let sim = IdpSim::start().await.unwrap();
        Self {
            env,
            service,
            client,
            store,
            sim,
        }
    }

    pub async fn finish(self) {
        self.service.stop().await.unwrap();
        self.env.cleanup().await;
    }

    pub async fn app(&mut self, name: &str) -> AppId {
        let app = self
            .client
            .create_app(pb::CreateAppRequest {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        AppId::parse("id", &app.id).unwrap()
    }

    /// A sim tenant of `kind` and its default issuer.
    pub fn tenant(&self, name: &str, kind: TenantKind) -> String {
        self.sim
            .create_tenant(name, kind, TenantOptions::default())
            .unwrap()
            .issuer
    }

    /// Creates the app's IDP through the API.
    pub async fn create_idp(
        &mut self,
        app: AppId,
        issuer: &str,
        kind: pb::IdpKind,
        mappings: Option<pb::ClaimMappings>,
    ) -> Result<pb::IdentityProvider, tonic::Status> {
        self.client
            .create_idp(pb::CreateIdpRequest {
                app_id: app.to_string(),
                issuer: issuer.into(),
                kind: kind.into(),
                audience: "https://api.example.test".into(),
                jwks_uri: String::new(),
                claim_mappings: mappings,
                ..Default::default()
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// An app with an IDP on a fresh sim tenant of `kind`.
    pub async fn app_with_idp(
        &mut self,
        tenant: &str,
        kind: TenantKind,
        mappings: Option<pb::ClaimMappings>,
    ) -> (AppId, IdpId) {
        let app = self.app(tenant).await;
        let issuer = self.tenant(tenant, kind);
        let idp = self
            .create_idp(app, &issuer, pb_kind(kind), mappings)
            .await
            .unwrap();
        (app, IdpId::parse("id", &idp.id).unwrap())
    }

    /// A user as the verifier provisions it at first sign-in.
    pub async fn user(&self, app: AppId, idp: IdpId, external: &str) -> UserId {
        let ext = ExternalUserId::parse("sub", external).unwrap();
        self.store
            .upsert_user(
                app,
                idp,
                &UserUpsert::jit(ext, Some(format!("{external}@example.test")), None),
            )
            .await
            .unwrap()
            .user
            .id
    }

    /// A group, with `members` added to it.
    pub async fn group(&self, app: AppId, external: &str, members: &[UserId]) -> GroupId {
        let upsert = GroupUpsert {
            external_id: ExternalGroupId::parse("group", external).unwrap(),
            name: Some(external.into()),
        };
        let group = self.store.upsert_groups(app, &[upsert]).await.unwrap()[0].id;
        for user in members {
            self.store
                .add_membership(app, *user, group, EventSource::Jwt)
                .await
                .unwrap();
        }
        group
    }
}

pub async fn client(service: &Spawned, token: Option<&str>) -> Client {
    alter_config_api::connect_admin(&service.url(), token)
        .await
        .unwrap()
}

pub fn pb_kind(kind: TenantKind) -> pb::IdpKind {
    match kind {
        TenantKind::Auth0 => pb::IdpKind::Auth0,
        TenantKind::Clerk => pb::IdpKind::Clerk,
        TenantKind::Okta => pb::IdpKind::Okta,
        TenantKind::Oidc => pb::IdpKind::CustomOidc,
    }
}

/// Asserts the status code and that the message contains every fragment.
#[track_caller]
pub fn assert_status(status: &tonic::Status, code: tonic::Code, fragments: &[&str]) {
    assert_eq!(status.code(), code, "{status:?}");
    for fragment in fragments {
        assert!(
            status.message().contains(fragment),
            "{fragment:?} not in {:?}",
            status.message()
        );
    }
}
