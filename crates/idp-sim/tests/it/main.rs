//! Integration tests of the simulator against its real HTTP server on port 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod directory;
mod mgmt;
mod signin;
mod tokens;
mod webhooks;
mod wire_shapes;

use alter_idp_sim::{IdpSim, TenantInfo, TenantKind, TenantOptions};
use serde_json::Value;

pub async fn sim_with(name: &str, kind: TenantKind) -> (IdpSim, TenantInfo) {
    let sim = IdpSim::start().await.expect("start");
    let info = sim
        .create_tenant(name, kind, TenantOptions::default())
        .expect("tenant");
    (sim, info)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A bearer for the Okta tenant's API with users and groups read scopes.
pub async fn okta_bearer(sim: &IdpSim, tenant: &str) -> String {
    let info = sim.tenant(tenant).unwrap();
    let url = info.token_endpoint.unwrap();
    let key = mgmt::okta_key("k1");
    let app = sim
        .register_okta_service_app(
            tenant,
            vec![key.jwk.clone()],
            &["okta.users.read", "okta.groups.read"],
            true,
        )
        .unwrap();
    let a = mgmt::assertion(&key, "k1", &app.client_id, &url, sim.now());
    let tok: Value = mgmt::okta_token(&url, &a, "okta.users.read okta.groups.read")
        .await
        .json()
        .await
        .unwrap();
    tok["access_token"].as_str().unwrap().to_string()
}

/// `rel="next"` URL of an Okta response, if any.
pub fn next_link(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.ends_with("rel=\"next\""))
        .and_then(|v| Some(v.get(1..v.find('>')?)?.to_string()))
}

/// Every page of an Okta list, following `rel="next"`; returns the pages' bodies.
pub async fn okta_walk(url: &str, bearer: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut next = Some(url.to_string());
    while let Some(u) = next.take() {
        let r = client().get(&u).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(r.status(), 200, "{u}");
        next = next_link(&r);
        pages.push(r.json().await.unwrap());
    }
    pages
}
