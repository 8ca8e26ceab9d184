//! Integration tests of alter-providers against a real idp-sim on a free port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod directory;
mod discovery;
mod inbound;
mod jwks;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use alter_core::{IdpId, Issuer};
use alter_idp_sim::{IdpSim, TenantKind, TenantOptions, TokenSpec};
use alter_providers::{
    DEFAULT_MAX_STALE, JwksCache, JwksSettings, ManualClock, TokenExpectations, TokenRefused,
    VerifiedToken, discover, http_client, verify_token,
};
use serde_json::json;

/// The audience every test token is minted for.
pub const AUD: &str = "https://api.acme.test";

/// A simulator with one tenant, its discovered JWKS URL, and a fresh key cache whose clock
/// the test moves.
pub struct Env {
    pub sim: IdpSim,
    pub tenant: String,
    pub issuer: String,
    pub jwks_uri: String,
    pub idp: IdpId,
    pub cache: JwksCache,
    pub clock: Arc<ManualClock>,
}

impl Env {
    /// A tenant of `kind` with a cache whose unknown-kid refetch interval is `min_interval`.
    pub async fn start(kind: TenantKind, min_interval: Duration) -> Self {
        Self::with_settings(kind, settings(min_interval)).await
    }

    /// A tenant of `kind` with a cache using `settings`.
    pub async fn with_settings(kind: TenantKind, settings: JwksSettings) -> Self {
        let sim = IdpSim::start().await.unwrap();
        let info = sim
            .create_tenant("acme", kind, TenantOptions::default())
            .unwrap();
        let client = http_client().unwrap();
        let issuer = Issuer::parse("issuer", &info.issuer).unwrap();
        let doc = discover(&client, &issuer).await.unwrap();
        let clock = Arc::new(ManualClock::new());
        let cache = JwksCache::with_clock(client, settings, clock.clone());
        sim.reset_counters("acme").unwrap();
        Self {
            sim,
            tenant: "acme".into(),
            issuer: info.issuer,
            jwks_uri: doc.jwks_uri,
            idp: IdpId::new(),
            cache,
            clock,
        }
    }

    pub async fn auth0() -> Self {
        Self::start(TenantKind::Auth0, Duration::from_secs(60)).await
    }

    pub fn expect(&self) -> TokenExpectations {
        TokenExpectations {
            issuer: self.issuer.clone(),
            audience: AUD.into(),
            leeway: Duration::from_secs(60),
        }
    }

    pub fn mint(&self, spec: &TokenSpec) -> String {
        self.sim.mint(&self.tenant, spec).unwrap()
    }

    pub fn spec(&self) -> TokenSpec {
        TokenSpec::new("user-1", json!(AUD))
    }

    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenRefused> {
        self.verify_as(token, &self.expect()).await
    }

    pub async fn verify_as(
        &self,
        token: &str,
        expected: &TokenExpectations,
    ) -> Result<VerifiedToken, TokenRefused> {
        verify_token(token, expected, self.idp, &self.jwks_uri, &self.cache).await
    }

    pub fn jwks_fetches(&self) -> u64 {
        self.sim.counters(&self.tenant).unwrap().jwks_fetches
    }
}

pub fn settings(min_interval: Duration) -> JwksSettings {
    JwksSettings {
        refresh_interval: Duration::from_secs(300),
        unknown_kid_min_interval: min_interval,
        fetch_timeout: Duration::from_secs(5),
        max_stale: DEFAULT_MAX_STALE,
    }
}
