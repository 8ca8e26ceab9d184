//! The suite's kit: config-api (to enable webhooks as an admin would), webhook-ingest, the
//! IDP simulator sending real deliveries, and probes of what was published and logged.

use alter_core::{AppId, IdpId};
use alter_idp_sim::{IdpSim, TenantKind, TenantOptions, WebhookTarget};
use alter_proto::admin::v1 as pb;
use alter_store::WebhookStore;
use alter_testkit::{Spawned, TestEnv, spawn};

pub const TOKEN: &str = "alt_adm_webhook-ingest-tests";
pub const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OKTA_AUTHORIZATION: &str = "okta-event-hook-secret-value";

pub struct Harness {
    pub env: TestEnv,
    pub config_api: Spawned,
    pub ingest: Spawned,
    pub admin: alter_config_api::AdminClient,
    pub sim: IdpSim,
    pub http: reqwest::Client,
}

/// An app with an IDP on a simulator tenant, and (unless `enable` is false) webhooks enabled.
pub struct HookApp {
    pub app: AppId,
    pub idp: IdpId,
    pub tenant: String,
    pub url: String,
    /// The generated secret (Auth0, custom OIDC).
    pub secret: String,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// With webhook-ingest's configuration adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut alter_webhook_ingest::Config)) -> Self {
        let env = TestEnv::new().await;
        let mut common = env.common();
        common.secrets.master_key = Some(alter_secrets::MasterKey::generate().unwrap());
        let mut ingest_config = alter_webhook_ingest::Config::for_tests(common.clone());
        adjust(&mut ingest_config);
        let ingest = spawn::<alter_webhook_ingest::Application>(ingest_config).await;
        let mut api_config = alter_config_api::Config::for_tests(common).with_admin_token(TOKEN);
        api_config.config_api.public_webhook_base_url = ingest.url();
        let config_api = spawn::<alter_config_api::Application>(api_config).await;
        let admin = alter_config_api::connect_admin(&config_api.url(), Some(TOKEN))
            .await
            .unwrap();
        let sim = IdpSim::start().await.unwrap();
        Self {
            env,
            config_api,
            ingest,
            admin,
            sim,
            http: reqwest::Client::new(),
        }
    }

    pub async fn app(&mut self, tenant: &str, kind: TenantKind, enable: bool) -> HookApp {
        let options = TenantOptions {
            webhook_secret: Some(SVIX_SECRET.to_owned()),
            ..TenantOptions::default()
        };
        let info = self.sim.create_tenant(tenant, kind, options).unwrap();
        let (pb_kind, issuer) = match kind {
            TenantKind::Auth0 => (pb::IdpKind::Auth0, info.issuer),
            TenantKind::Clerk => (pb::IdpKind::Clerk, info.issuer),
            TenantKind::Okta => (
                pb::IdpKind::Okta,
                self.sim.issuer(tenant, Some("default")).unwrap(),
            ),
            TenantKind::Oidc => (pb::IdpKind::CustomOidc, info.issuer),
        };
        let app = self
            .admin
            .create_app(pb::CreateAppRequest {
                name: tenant.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        let idp = self
            .admin
            .create_idp(pb::CreateIdpRequest {
                app_id: app.clone(),
                issuer,
                kind: pb_kind.into(),
                audience: "api://hooks".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        let mut secret = String::new();
        let mut url = format!("{}/v1/webhooks/{idp}", self.ingest.url());
        if enable {
            let pasted = match kind {
                TenantKind::Clerk => SVIX_SECRET,
                TenantKind::Okta => OKTA_AUTHORIZATION,
                TenantKind::Auth0 | TenantKind::Oidc => "",
            };
            let issued = self
                .admin
                .enable_webhooks(pb::EnableWebhooksRequest {
                    app_id: app.clone(),
                    secret: pasted.into(),
                })
                .await
                .unwrap()
                .into_inner();
            secret = issued.secret;
            url = issued.status.unwrap().endpoint_url;
        }
        HookApp {
            app: AppId::parse("app", &app).unwrap(),
            idp: IdpId::parse("idp", &idp).unwrap(),
            tenant: tenant.to_owned(),
            url,
            secret,
        }
    }

    /// How many lifecycle events the stream holds (every app of this test's prefix).
    pub async fn published(&self) -> u64 {
        let bus = self.env.bus.bus();
        let name = bus.names().stream(alter_bus::StreamKind::Lifecycle);
        let mut stream = bus.jetstream().get_stream(&name).await.unwrap();
        stream.info().await.unwrap().state.messages
    }

    /// The app's delivery log, newest first.
    pub async fn deliveries(&self, app: &HookApp) -> Vec<alter_store::LoggedDelivery> {
        self.env
            .db
            .store()
            .list_deliveries(app.app, None, 100)
            .await
            .unwrap()
    }

    pub async fn finish(self) {
        self.ingest.stop().await.unwrap();
        self.config_api.stop().await.unwrap();
        self.env.cleanup().await;
    }
}

/// A target that never retries, so each test sees each attempt's answer.
pub fn target(url: &str, authorization: Option<&str>) -> WebhookTarget {
    WebhookTarget {
        url: url.to_owned(),
        authorization: authorization.map(str::to_owned),
        retry_delays_ms: Some(Vec::new()),
        ..WebhookTarget::default()
    }
}
