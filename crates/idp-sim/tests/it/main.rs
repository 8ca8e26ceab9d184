//! Integration tests of the simulator against its real HTTP server on port 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod mgmt;
mod tokens;
mod webhooks;

use alter_idp_sim::{IdpSim, TenantInfo, TenantKind, TenantOptions};

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
