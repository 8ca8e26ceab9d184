//! One directory to import: a simulator Okta tenant holding the generated directory, and an
//! app whose Okta IDP has a working directory credential, set up through config-api
//! (in-process) as an admin would.

use alter_idp_sim::{GenerateSpec, IdpSim, TenantKind, TenantOptions};
use alter_proto::admin::v1 as pb;
use alter_testkit::{Spawned, TestEnv, spawn};
use serde_json::{Value, json};

use crate::ADMIN_TOKEN;

/// The Okta service app's private key (the directory-sync suite's test fixture).
pub const PRIVATE_JWK: &str =
    include_str!("../../../directory-sync/tests/it/okta_test_key.jwk.json");

pub struct Directory {
    config_api: Spawned,
    pub admin: alter_config_api::AdminClient,
    pub app: String,
    pub tenant: String,
    /// The master key (base64) the worker needs to open the credential config-api sealed.
    pub master_key: String,
}

/// The fixture's private JWK with `kid`.
pub fn private_jwk(kid: &str) -> String {
    let mut v: Value = serde_json::from_str(PRIVATE_JWK).expect("the fixture is a JWK");
    v["kid"] = json!(kid);
    v.to_string()
}

/// Registers an Okta API service app on `tenant` whose key is the fixture's, under `kid`.
pub fn okta_service_app(sim: &IdpSim, tenant: &str, kid: &str) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(PRIVATE_JWK)?;
    let public =
        json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": v["n"], "e": v["e"] });
    let app = sim.register_okta_service_app(
        tenant,
        vec![public],
        &["okta.users.read", "okta.groups.read"],
        true,
    )?;
    Ok(app.client_id)
}

impl Directory {
    /// A tenant named `tenant` with `spec` generated, config-api over `env`, and the app.
    pub async fn start(
        env: &TestEnv,
        sim: &IdpSim,
        tenant: &str,
        spec: GenerateSpec,
    ) -> anyhow::Result<Self> {
        let mut common = env.common();
        let master_key = alter_secrets::MasterKey::generate()?;
        common.secrets.master_key = Some(master_key.clone());
        let api = alter_config_api::Config::for_tests(common).with_admin_token(ADMIN_TOKEN);
        let config_api = spawn::<alter_config_api::Application>(api).await;
        let mut admin =
            alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN)).await?;

        sim.create_tenant(tenant, TenantKind::Okta, TenantOptions::default())?;
        let (users, groups) = sim.generate(tenant, spec)?;
        anyhow::ensure!(
            (users, groups) == (spec.users, spec.groups),
            "the simulator generated {users} users and {groups} groups, not {spec:?}"
        );

        let app = admin
            .create_app(pb::CreateAppRequest {
                name: tenant.into(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .id;
        admin
            .create_idp(pb::CreateIdpRequest {
                app_id: app.clone(),
                issuer: sim.issuer(tenant, Some("default"))?,
                kind: pb::IdpKind::Okta.into(),
                audience: "api://bench-directory".into(),
                claim_mappings: Some(pb::ClaimMappings {
                    user_id_claim: "uid".into(),
                    group_claim: "groups".into(),
                    group_claim_stable_ids: true,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await?;
        let kid = "bench-import";
        let client_id = okta_service_app(sim, tenant, kid)?;
        admin
            .set_directory_credential(pb::SetDirectoryCredentialRequest {
                app_id: app.clone(),
                credential: Some(pb::set_directory_credential_request::Credential::Okta(
                    pb::OktaDirectoryCredential {
                        org_url: sim.tenant(tenant)?.base_url,
                        client_id,
                        private_jwk: private_jwk(kid),
                        key_id: String::new(),
                    },
                )),
            })
            .await?;
        Ok(Self {
            config_api,
            admin,
            app,
            tenant: tenant.to_owned(),
            master_key: master_key.to_base64().expose().to_owned(),
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.config_api.stop().await.map_err(|e| anyhow::anyhow!(e))
    }
}
