//! The test kit of this suite: a real verifier in-process, a fresh database and NATS prefix,
//! a real IdpSim, and helpers to configure apps through the store and call Verify over gRPC.

use std::sync::Arc;
use std::time::Duration;

use alter_bus::Invalidation;
use alter_core::{AppId, ClaimMappings, IdpKind};
use alter_idp_sim::{IdpSim, TenantKind, TenantOptions, TokenSpec};
use alter_jwt_verifier::{Application, Config, REFUSAL_METADATA_KEY, Verifier, refusal_of};
use alter_proto::identity::v1::verifier_client::VerifierClient;
use alter_proto::identity::v1::{RefusalReason, VerifyRequest, VerifyResponse};
use alter_store::{AppStore, IdentityProvider, IdpStore, NewIdp, PgStore};
use alter_testkit::TestEnv;
use serde_json::{Value, json};
use tonic::transport::Channel;

pub const AUDIENCE: &str = "api://alter-test";

pub struct Harness {
    pub env: TestEnv,
    pub sim: IdpSim,
    pub verifier: Arc<Verifier>,
    client: VerifierClient<Channel>,
    shutdown: alter_runtime::CancellationToken,
    task: tokio::task::JoinHandle<Result<(), alter_jwt_verifier::Error>>,
}

/// An app with its IDP, configured through the store.
pub struct TestApp {
    pub id: AppId,
    pub idp: IdentityProvider,
    pub tenant: String,
    /// Okta custom authorization server the tokens come from, if any.
    pub auth_server: Option<String>,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A harness whose verifier's configuration `configure` adjusts first.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let env = TestEnv::new().await;
        let sim = IdpSim::start().await.expect("idp-sim starts");
        let mut config = Config::for_tests(env.common());
        configure(&mut config);
        let app = Application::build(config).await.expect("verifier builds");
        let verifier = app.verifier();
        let url = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_token();
        let task = tokio::spawn(app.run_until_stopped());
        let client = alter_jwt_verifier::connect(url)
            .await
            .expect("client connects");
        Self {
            env,
            sim,
            verifier,
            client,
            shutdown,
            task,
        }
    }

    pub fn store(&self) -> PgStore {
        self.env.db.store()
    }

    /// A sim tenant of `kind` and an app whose IDP trusts it, with `mappings`.
    pub async fn app(&self, tenant: &str, kind: TenantKind, mappings: ClaimMappings) -> TestApp {
        let info = self
            .sim
            .create_tenant(tenant, kind, TenantOptions::default())
            .expect("tenant");
        let (idp_kind, issuer, jwks_uri, auth_server) = match kind {
            TenantKind::Auth0 => (
                IdpKind::Auth0,
                info.issuer.clone(),
                info.jwks_uri.clone(),
                None,
            ),
            TenantKind::Clerk => (
                IdpKind::Clerk,
                info.issuer.clone(),
                info.jwks_uri.clone(),
                None,
            ),
            TenantKind::Oidc => (
                IdpKind::CustomOidc,
                info.issuer.clone(),
                info.jwks_uri.clone(),
                None,
            ),
            TenantKind::Okta => {
                let issuer = self
                    .sim
                    .issuer(tenant, Some("default"))
                    .expect("okta issuer");
                let jwks = format!("{issuer}/v1/keys");
                (IdpKind::Okta, issuer, jwks, Some("default".to_owned()))
            }
        };
        self.app_with_idp(tenant, idp_kind, &issuer, &jwks_uri, mappings, auth_server)
            .await
    }

    /// An app trusting an existing tenant with the given issuer (custom-domain cases).
    pub async fn app_with_idp(
        &self,
        tenant: &str,
        kind: IdpKind,
        issuer: &str,
        jwks_uri: &str,
        mappings: ClaimMappings,
        auth_server: Option<String>,
    ) -> TestApp {
        let store = self.store();
        let app = store
            .create_app(&format!("app for {tenant}"))
            .await
            .expect("app");
        let idp = store
            .create_idp(
                app.id,
                &NewIdp {
                    kind,
                    issuer: issuer.to_owned(),
                    jwks_uri: jwks_uri.to_owned(),
                    audience: AUDIENCE.to_owned(),
                    claim_mappings: mappings,
                    sign_in: None,
                },
            )
            .await
            .expect("idp");
        TestApp {
            id: app.id,
            idp,
            tenant: tenant.to_owned(),
            auth_server,
        }
    }

    /// Mints a token from the app's tenant for `sub`, with extra claims.
    pub fn mint(&self, app: &TestApp, sub: &str, claims: &[(&str, Value)]) -> String {
        let mut spec = TokenSpec::new(sub, json!(AUDIENCE));
        spec.auth_server = app.auth_server.clone();
        for (k, v) in claims {
            spec = spec.claim(k, v.clone());
        }
        self.mint_spec(app, spec)
    }

    pub fn mint_spec(&self, app: &TestApp, spec: TokenSpec) -> String {
        self.sim.mint(&app.tenant, &spec).expect("mint")
    }

    pub async fn verify(&self, app: AppId, token: &str) -> Result<VerifyResponse, tonic::Status> {
        self.verify_raw(&app.to_string(), token).await
    }

    pub async fn verify_raw(
        &self,
        app: &str,
        token: &str,
    ) -> Result<VerifyResponse, tonic::Status> {
        let mut client = self.client.clone();
        client
            .verify(VerifyRequest {
                app_id: app.to_owned(),
                token: token.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Publishes an invalidation as grant-revoker / config-api do, and waits until this
    /// verifier has applied it.
    pub async fn invalidate(&self, app: AppId, invalidation: Invalidation) {
        let mut applied = self.verifier.invalidations_applied();
        let before = *applied.borrow_and_update();
        self.env
            .bus
            .publish_invalidation(app, invalidation)
            .await
            .expect("publish invalidation");
        tokio::time::timeout(Duration::from_secs(5), applied.wait_for(|n| *n > before))
            .await
            .expect("invalidation applied within 5 s")
            .expect("verifier alive");
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "verifier stops cleanly: {stopped:?}"
        );
        self.env.cleanup().await;
    }
}

/// Asserts a refusal with `code` and `reason` in both the details and the metadata.
pub fn assert_refused(
    result: Result<VerifyResponse, tonic::Status>,
    code: tonic::Code,
    reason: RefusalReason,
) -> tonic::Status {
    let status = match result {
        Ok(answer) => panic!("expected {code:?} {reason:?}, got an answer: {answer:?}"),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "{status:?}");
    let detail = refusal_of(&status).unwrap_or_else(|| panic!("no RefusalDetail in {status:?}"));
    assert_eq!(detail.reason(), reason, "{status:?}");
    let label = status
        .metadata()
        .get(REFUSAL_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        label.as_deref(),
        Some(alter_jwt_verifier::reason_label(reason))
    );
    status
}

pub fn mappings() -> ClaimMappings {
    ClaimMappings::default()
}
