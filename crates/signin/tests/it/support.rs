//! The test kit: the real sign-in service in-process on port 0 over a fresh database and NATS
//! prefix, a real IdpSim, apps configured through the store as config-api would, and a
//! browser (`browser.rs`) that reaches the service as `https://alter.test`.

use std::sync::Arc;
use std::time::Duration;

use alter_bus::Invalidation;
use alter_core::sign_in::SignInUrls;
use alter_core::{AppId, ClaimMappings, ExternalUserId, IdpKind, UserId, UserStatus};
use alter_idp_sim::{ClientAuthMethod, IdpSim, NewUser, TenantKind, TenantOptions};
use alter_proto::identity::v1::sign_in_client::SignInClient;
use alter_proto::identity::v1::{RedeemRequest, RedeemResponse};
use alter_secrets::{Keyring, MasterKey};
use alter_signin::{Application, Config, SignIn};
use alter_store::{
    AppStore, GrantStore, IdpStore, NewGrant, NewIdp, PgStore, SealedSecret, SignInSettings,
    UserStore, UserUpsert,
};
use alter_testkit::TestEnv;
use tonic::transport::Channel;

use crate::browser::{Browser, PUBLIC_URL};

/// The app's allowed return URL in every test.
pub const RETURN_URL: &str = "https://app.test/signed-in";

pub struct Harness {
    pub env: TestEnv,
    pub sim: IdpSim,
    pub signin: Arc<SignIn>,
    pub port: u16,
    keyring: Keyring,
    client: SignInClient<Channel>,
    shutdown: alter_runtime::CancellationToken,
    task: tokio::task::JoinHandle<Result<(), alter_signin::Error>>,
}

/// An app whose IDP is a sim tenant with a registered OIDC client and one signed-in user.
pub struct TestApp {
    pub id: AppId,
    /// The sim user the login step signs in.
    pub user: alter_idp_sim::User,
    pub urls: SignInUrls,
    pub issuer: String,
}

impl TestApp {
    /// Where the app sends the browser to sign in.
    pub fn authorize(&self, state: &str) -> String {
        let mut url = url::Url::parse(&self.urls.authorize_url).expect("url");
        url.query_pairs_mut()
            .append_pair("return_to", RETURN_URL)
            .append_pair("state", state);
        url.to_string()
    }
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let env = TestEnv::new().await;
        let sim = IdpSim::start().await.expect("idp-sim starts");
        let key = MasterKey::generate().expect("master key");
        let mut common = env.common();
        common.secrets.master_key = Some(key.clone());
        common.public.signin_url = Some(PUBLIC_URL.to_owned());
        let mut config = Config::for_tests(common);
        configure(&mut config);
        let app = Application::build(config).await.expect("sign-in builds");
        let signin = app.signin();
        let port = app.port();
        let shutdown = app.shutdown_token();
        let task = tokio::spawn(app.run_until_stopped());
        let client = alter_signin::connect(format!("http://127.0.0.1:{port}"))
            .await
            .expect("client connects");
        Self {
            env,
            sim,
            signin,
            port,
            keyring: Keyring::new(key),
            client,
            shutdown,
            task,
        }
    }

    pub fn store(&self) -> PgStore {
        self.env.db.store()
    }

    pub fn browser(&self) -> Browser {
        Browser::new(self.port)
    }

    /// A sim tenant of `kind` named `tenant` and an app trusting it, with sign-in set up:
    /// the client registered with both redirect URIs and the Wallet logout URL, the suggested
    /// claim mappings (ID tokens carry a `groups` claim where the provider can send one), and
    /// one user chosen for the login step.
    pub async fn app(&self, tenant: &str, kind: TenantKind) -> TestApp {
        self.app_with(tenant, kind, ClientAuthMethod::ClientSecretBasic)
            .await
    }

    pub async fn app_with(
        &self,
        tenant: &str,
        kind: TenantKind,
        method: ClientAuthMethod,
    ) -> TestApp {
        let options = TenantOptions {
            id_token_groups_claim: matches!(kind, TenantKind::Okta | TenantKind::Oidc)
                .then(|| "groups".to_owned()),
            ..TenantOptions::default()
        };
        let info = self
            .sim
            .create_tenant(tenant, kind, options)
            .expect("tenant");
        let (idp_kind, issuer) = match kind {
            TenantKind::Auth0 => (IdpKind::Auth0, info.issuer.clone()),
            TenantKind::Clerk => (IdpKind::Clerk, info.issuer.clone()),
            TenantKind::Oidc => (IdpKind::CustomOidc, info.issuer.clone()),
            TenantKind::Okta => (
                IdpKind::Okta,
                self.sim.issuer(tenant, Some("default")).expect("issuer"),
            ),
        };
        let jwks_uri = match kind {
            TenantKind::Okta => format!("{issuer}/v1/keys"),
            _ => info.jwks_uri.clone(),
        };
        let mut mappings: ClaimMappings = alter_core::suggested_claim_mappings(idp_kind);
        if matches!(kind, TenantKind::Okta | TenantKind::Oidc) {
            mappings.group_claim = Some("groups".to_owned());
            // The sim's groups claim lists names; tests treat them as the stable IDs.
            mappings.group_claim_stable_ids = true;
        }
        let store = self.store();
        let app = store
            .create_app(&format!("app for {tenant}"))
            .await
            .expect("app");
        let idp = store
            .create_idp(
                app.id,
                &NewIdp {
                    kind: idp_kind,
                    issuer: issuer.clone(),
                    jwks_uri,
                    audience: "api://alter-test".to_owned(),
                    claim_mappings: mappings,
                    sign_in: None,
                },
            )
            .await
            .expect("idp");
        let urls = SignInUrls::new(PUBLIC_URL, app.id);
        let client = self
            .sim
            .register_oidc_client(
                tenant,
                &[&urls.app_redirect_uri, &urls.wallet_redirect_uri],
                &[&urls.wallet_logout_url],
                method,
            )
            .expect("client");
        let sealed = self
            .keyring
            .seal(
                client.client_secret.as_bytes(),
                &alter_store::client_secret_seal_context(idp.id),
            )
            .expect("seal");
        store
            .set_sign_in(
                app.id,
                idp.id,
                Some(&SignInSettings {
                    client_id: client.client_id.clone(),
                    return_urls: vec![RETURN_URL.to_owned()],
                    scopes: vec!["profile".to_owned(), "email".to_owned()],
                }),
                Some(&SealedSecret::from_sealed(sealed)),
            )
            .await
            .expect("sign-in settings");
        let user = self
            .sim
            .add_user(
                tenant,
                NewUser {
                    email: Some(format!("ada@{tenant}.test")),
                    first_name: Some("Ada".into()),
                    last_name: Some("Lovelace".into()),
                    ..NewUser::default()
                },
            )
            .expect("user");
        self.sim.set_login(tenant, Some(&user.id)).expect("login");
        TestApp {
            id: app.id,
            user,
            urls,
            issuer,
        }
    }

    /// The app's user for the sim user, provisioned as directory sync would.
    pub async fn provision(&self, app: &TestApp) -> UserId {
        let store = self.store();
        let idp = store
            .get_idp_for_app(app.id)
            .await
            .expect("read idp")
            .expect("idp");
        let upserted = store
            .upsert_user(
                app.id,
                idp.id,
                &UserUpsert::jit(
                    ExternalUserId::parse("sub", &app.user.id).expect("id"),
                    Some(app.user.email.clone()),
                    None,
                ),
            )
            .await
            .expect("upsert");
        upserted.user.id
    }

    /// A user grant for `user` with `credential`.
    pub async fn grant(&self, app: AppId, user: UserId, credential: &str) -> String {
        self.store()
            .create_grant(
                app,
                &NewGrant {
                    credential_ref: credential.to_owned(),
                    principal: alter_core::Principal::User(user),
                    expires_at: None,
                },
            )
            .await
            .expect("grant")
            .id
            .to_string()
    }

    /// Publishes `invalidation` as config-api or grant-revoker would and waits until the
    /// sign-in service's verifier applied it.
    pub async fn invalidate(&self, app: AppId, invalidation: Invalidation) {
        let verifier = self.signin.verifier();
        let mut applied = verifier.invalidations_applied();
        let before = *applied.borrow_and_update();
        self.env
            .bus
            .publish_invalidation(app, invalidation)
            .await
            .expect("publish");
        tokio::time::timeout(Duration::from_secs(5), applied.wait_for(|n| *n > before))
            .await
            .expect("invalidation applied within 5 s")
            .expect("verifier alive");
    }

    /// Sets the user's status in the store and tells the verifier, as grant-revoker does
    /// after a webhook; returns once the verifier applied the invalidation.
    pub async fn set_status(&self, app: AppId, user: UserId, status: UserStatus) {
        self.store()
            .set_user_status(app, user, status, chrono::Utc::now().timestamp_micros())
            .await
            .expect("status");
        self.invalidate(app, Invalidation::User { user_id: user })
            .await;
    }

    pub async fn redeem(&self, app: AppId, code: &str) -> Result<RedeemResponse, tonic::Status> {
        let mut client = self.client.clone();
        client
            .redeem(RedeemRequest {
                app_id: app.to_string(),
                code: code.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Rows in a sign-in table of this app (`sign_in_flows` or `sign_in_sessions`).
    pub async fn rows(&self, table: &str, app: AppId) -> i64 {
        let sql = match table {
            "sign_in_flows" => "SELECT count(*) FROM sign_in_flows WHERE app_id = $1",
            "sign_in_sessions" => "SELECT count(*) FROM sign_in_sessions WHERE app_id = $1",
            other => panic!("no table {other}"),
        };
        sqlx::query_scalar(sql)
            .bind(app.as_uuid())
            .fetch_one(self.env.db.pool())
            .await
            .expect("count")
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "sign-in stops cleanly: {stopped:?}"
        );
        self.env.cleanup().await;
    }
}
