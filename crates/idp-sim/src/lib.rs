//! IDP simulator: Auth0, Clerk, Okta and plain OIDC tenants served from one axum server,
//! addressed by path prefix `http://127.0.0.1:<port>/<tenant>/…`, with a Rust handle
//! (`IdpSim`) and an equivalent `/_control` HTTP API. See `docs/idp-sim.md`.

mod clock;
mod directory;
mod error;
mod exports;
mod http;
mod keys;
mod model;
mod state;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::oneshot;

pub use error::SimError;
pub use http::control::{CreateTenant, Seed};
pub use keys::{KeyInfo, KeyState, TokenAlg};
pub use model::{
    AUTH0_CONNECTION_ID, AUTH0_CONNECTION_NAME, Auth0Client, ClientAuthMethod, Counters,
    ExportTiming, Fault, Group, Membership, NewGroup, NewUser, OidcClient, OktaServiceApp,
    RateLimit, TenantKind, TenantOptions, User, UserPatch, UserStatus,
};
pub use state::{GenerateSpec, TenantInfo, TokenSpec};
pub use webhooks::{Attempt, DeliveryReport, LogStreamFormat, WebhookTarget, svix_signature};

use state::SimState;

/// A running simulator; dropping it stops the server.
pub struct IdpSim {
    state: Arc<SimState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for IdpSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl IdpSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start() -> Result<Self, SimError> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on the given address.
    pub async fn bind(addr: SocketAddr) -> Result<Self, SimError> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(format!("http://{addr}")));
        let app = http::router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "idp-sim server stopped");
            }
        });
        Ok(Self {
            state,
            addr,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    /// Bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Creates a tenant served at `<base_url>/<name>`.
    pub fn create_tenant(
        &self,
        name: &str,
        kind: TenantKind,
        options: TenantOptions,
    ) -> Result<TenantInfo, SimError> {
        self.state.create_tenant(name, kind, options)
    }

    /// Creates the tenants of a seed file.
    pub fn apply_seed(&self, seed: Seed) -> Result<(), SimError> {
        http::control::apply_seed(&self.state, seed)
    }

    /// URLs and secrets of a tenant.
    pub fn tenant(&self, name: &str) -> Result<TenantInfo, SimError> {
        self.state.tenant_info(name)
    }

    /// Issuer of an Okta custom authorization server (`<base>/oauth2/<id>`) or the default issuer.
    pub fn issuer(&self, tenant: &str, auth_server: Option<&str>) -> Result<String, SimError> {
        let info = self.state.tenant_info(tenant)?;
        Ok(self.state.issuer(tenant, info.kind, auth_server))
    }

    /// Adds a user.
    pub fn add_user(&self, tenant: &str, user: NewUser) -> Result<User, SimError> {
        self.state.add_user(tenant, user)
    }

    /// Changes a user (e.g. status to blocked/banned/SUSPENDED/DEPROVISIONED).
    pub fn update_user(&self, tenant: &str, id: &str, patch: UserPatch) -> Result<User, SimError> {
        self.state.update_user(tenant, id, patch)
    }

    /// Sets a user's status.
    pub fn set_user_status(
        &self,
        tenant: &str,
        id: &str,
        status: UserStatus,
    ) -> Result<User, SimError> {
        self.state.update_user(
            tenant,
            id,
            UserPatch {
                status: Some(status),
                ..UserPatch::default()
            },
        )
    }

    /// Deletes a user and their memberships.
    pub fn delete_user(&self, tenant: &str, id: &str) -> Result<(), SimError> {
        self.state.delete_user(tenant, id)
    }

    /// All users in creation order.
    pub fn users(&self, tenant: &str) -> Result<Vec<User>, SimError> {
        self.state.users(tenant)
    }

    /// Adds a group / organization.
    pub fn add_group(&self, tenant: &str, group: NewGroup) -> Result<Group, SimError> {
        self.state.add_group(tenant, group)
    }

    /// All groups.
    pub fn groups(&self, tenant: &str) -> Result<Vec<Group>, SimError> {
        self.state.groups(tenant)
    }

    /// Adds a user to a group (idempotent); `role` defaults to `org:member`.
    pub fn add_membership(
        &self,
        tenant: &str,
        group_id: &str,
        user_id: &str,
        role: Option<&str>,
    ) -> Result<Membership, SimError> {
        self.state
            .add_membership(tenant, group_id, user_id, role.map(str::to_string))
    }

    /// Removes a membership.
    pub fn remove_membership(
        &self,
        tenant: &str,
        group_id: &str,
        user_id: &str,
    ) -> Result<Membership, SimError> {
        self.state.remove_membership(tenant, group_id, user_id)
    }

    /// Generates users (one second apart, ending now), groups and memberships; returns counts added.
    pub fn generate(&self, tenant: &str, spec: GenerateSpec) -> Result<(usize, usize), SimError> {
        self.state.generate(tenant, spec)
    }

    /// Publishes a new key that does not sign yet; returns its kid.
    pub fn publish_next_key(&self, tenant: &str, alg: TokenAlg) -> Result<String, SimError> {
        self.state.publish_next_key(tenant, alg)
    }

    /// Makes the next (or a new) key sign; the old one stays published as `Previous`. Returns the new kid.
    pub fn rotate_keys(&self, tenant: &str, alg: TokenAlg) -> Result<String, SimError> {
        self.state.rotate_keys(tenant, alg)
    }

    /// Ends the grace period: removes `Previous` keys from the JWKS; returns their kids.
    pub fn retire_previous_keys(&self, tenant: &str) -> Result<Vec<String>, SimError> {
        self.state.retire_previous_keys(tenant)
    }

    /// Published keys and their states.
    pub fn keys(&self, tenant: &str) -> Result<Vec<KeyInfo>, SimError> {
        self.state.keys(tenant)
    }

    /// The JWKS document as served.
    pub fn jwks(&self, tenant: &str) -> Result<Value, SimError> {
        self.state.jwks(tenant)
    }

    /// PEM of the active RSA public key (the HMAC secret used by `TokenAlg::HS256`).
    pub fn rsa_public_pem(&self, tenant: &str) -> Result<String, SimError> {
        self.state.rsa_public_pem(tenant)
    }

    /// Mints a token with any claims (see [`TokenSpec`]).
    pub fn mint(&self, tenant: &str, spec: &TokenSpec) -> Result<String, SimError> {
        self.state.mint(tenant, spec)
    }

    /// Registers an Auth0 M2M client with granted scopes.
    pub fn register_auth0_client(
        &self,
        tenant: &str,
        scopes: &[&str],
    ) -> Result<Auth0Client, SimError> {
        self.state
            .register_auth0_client(tenant, scopes.iter().map(|s| (*s).to_string()).collect())
    }

    /// Registers a confidential sign-in client (Clerk: an OAuth application) with its allowed
    /// redirect and post-logout redirect URIs and its token-endpoint authentication method.
    pub fn register_oidc_client(
        &self,
        tenant: &str,
        redirect_uris: &[&str],
        post_logout_redirect_uris: &[&str],
        auth_method: ClientAuthMethod,
    ) -> Result<OidcClient, SimError> {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect();
        self.state.register_oidc_client(
            tenant,
            owned(redirect_uris),
            owned(post_logout_redirect_uris),
            auth_method,
        )
    }

    /// Signs `user_id` in at the provider (its browser session): every later authorize
    /// request of the tenant is answered for this user, until `set_login(tenant, None)` or an
    /// end-session request. With nobody signed in, authorize shows the login page (or answers
    /// `login_required` for `prompt=none`).
    pub fn set_login(&self, tenant: &str, user_id: Option<&str>) -> Result<(), SimError> {
        self.state.set_login(tenant, user_id)
    }

    /// Issues a Clerk secret key `sk_test_…`.
    pub fn register_clerk_secret_key(&self, tenant: &str) -> Result<String, SimError> {
        self.state.register_clerk_secret_key(tenant)
    }

    /// Registers an Okta service app with public JWKs (each with `kid`), scopes and admin role.
    pub fn register_okta_service_app(
        &self,
        tenant: &str,
        public_jwks: Vec<Value>,
        scopes: &[&str],
        admin_role: bool,
    ) -> Result<OktaServiceApp, SimError> {
        let scopes = scopes.iter().map(|s| (*s).to_string()).collect();
        self.state
            .register_okta_service_app(tenant, public_jwks, scopes, admin_role)
    }

    /// Grants or removes an Okta app's admin role.
    pub fn set_okta_admin_role(
        &self,
        tenant: &str,
        client_id: &str,
        admin_role: bool,
    ) -> Result<(), SimError> {
        self.state
            .set_okta_admin_role(tenant, client_id, admin_role)
    }

    /// Injects (or clears) a fault.
    pub fn inject_fault(&self, tenant: &str, fault: Fault) -> Result<(), SimError> {
        self.state.inject_fault(tenant, fault)
    }

    /// Sets how long Auth0 users-export jobs stay `pending` (read at every status poll).
    pub fn set_export_timing(&self, tenant: &str, timing: ExportTiming) -> Result<(), SimError> {
        self.state.set_export_timing(tenant, timing)
    }

    /// Makes the next `count` Auth0 users-export jobs end `failed`
    /// (shorthand for [`Fault::ExportJobFails`]).
    pub fn fail_next_exports(&self, tenant: &str, count: u32) -> Result<(), SimError> {
        self.state
            .inject_fault(tenant, Fault::ExportJobFails { count })
    }

    /// Sets or removes the tenant's rate limit.
    pub fn set_rate_limit(&self, tenant: &str, limit: Option<RateLimit>) -> Result<(), SimError> {
        self.state.set_rate_limit(tenant, limit)
    }

    /// Request counters.
    pub fn counters(&self, tenant: &str) -> Result<Counters, SimError> {
        self.state.counters(tenant)
    }

    /// Zeroes the counters.
    pub fn reset_counters(&self, tenant: &str) -> Result<(), SimError> {
        self.state.reset_counters(tenant)
    }

    /// Moves the simulated clock (token times, rate-limit windows, webhook timestamps).
    pub fn advance_clock(&self, seconds: i64) {
        self.state.clock.advance_ms(seconds.saturating_mul(1000));
    }

    /// Simulated now, epoch seconds.
    pub fn now(&self) -> i64 {
        self.state.clock.now_s()
    }

    /// Sends a Clerk (Svix-signed) webhook; `extra_secrets` add signatures as during rotation.
    pub async fn send_clerk_webhook(
        &self,
        tenant: &str,
        target: &WebhookTarget,
        event_type: &str,
        data: Value,
        extra_secrets: &[String],
    ) -> Result<DeliveryReport, SimError> {
        webhooks::send_clerk(&self.state, tenant, target, event_type, data, extra_secrets).await
    }

    /// Sends an Auth0 log-stream delivery of `records` (each a log `data` object).
    pub async fn send_auth0_log_stream(
        &self,
        tenant: &str,
        target: &WebhookTarget,
        format: LogStreamFormat,
        records: Vec<Value>,
    ) -> Result<DeliveryReport, SimError> {
        webhooks::send_auth0(&self.state, tenant, target, format, records).await
    }

    /// Sends an Okta event hook with the given System Log events.
    pub async fn send_okta_event_hook(
        &self,
        tenant: &str,
        target: &WebhookTarget,
        events: Vec<Value>,
    ) -> Result<DeliveryReport, SimError> {
        webhooks::send_okta(&self.state, tenant, target, events).await
    }

    /// Sends Okta's one-time verification GET; `delivered` is true when the challenge was echoed.
    pub async fn verify_okta_event_hook(
        &self,
        target: &WebhookTarget,
    ) -> Result<DeliveryReport, SimError> {
        webhooks::verify_okta(&self.state, target).await
    }
}
