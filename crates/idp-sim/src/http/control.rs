//! `/_control/…` JSON API: the same operations as the Rust handle, for the demo, benchmarks
//! and the standalone binary's seed file.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::SimError;
use crate::keys::TokenAlg;
use crate::model::{
    ClientAuthMethod, ExportTiming, Fault, NewGroup, NewUser, RateLimit, TenantKind, TenantOptions,
    UserPatch,
};
use crate::state::{GenerateSpec, SimState, TokenSpec};
use crate::webhooks::{self, LogStreamFormat, WebhookTarget};

type St = State<Arc<SimState>>;
type Res = Result<Json<Value>, SimError>;

/// Body of `POST /_control/tenants`, also one entry of a seed file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateTenant {
    /// Tenant name (path prefix).
    pub name: String,
    /// Provider kind.
    pub kind: TenantKind,
    /// Options.
    #[serde(default)]
    pub options: TenantOptions,
    /// Directory to generate right away.
    #[serde(default)]
    pub generate: Option<GenerateSpec>,
}

/// Seed file for the binary: tenants to create.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Seed {
    /// Tenants.
    pub tenants: Vec<CreateTenant>,
}

pub(crate) fn apply_seed(st: &SimState, seed: Seed) -> Result<(), SimError> {
    for t in seed.tenants {
        st.create_tenant(&t.name, t.kind, t.options)?;
        if let Some(g) = t.generate {
            st.generate(&t.name, g)?;
        }
    }
    Ok(())
}

fn ok<T: Serialize>(v: T) -> Res {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| SimError::invalid("response", e.to_string()))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AlgBody {
    alg: TokenAlg,
}
#[derive(Deserialize)]
struct MemberBody {
    group_id: String,
    user_id: String,
    role: Option<String>,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct ScopesBody {
    scopes: Vec<String>,
}
#[derive(Deserialize)]
struct OktaAppBody {
    public_jwks: Vec<Value>,
    scopes: Vec<String>,
    #[serde(default = "yes")]
    admin_role: bool,
}
fn yes() -> bool {
    true
}
#[derive(Deserialize)]
struct OidcClientBody {
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    auth_method: ClientAuthMethod,
}
#[derive(Deserialize)]
struct LoginBody {
    user_id: Option<String>,
}
#[derive(Deserialize)]
struct ClockBody {
    seconds: i64,
}
#[derive(Deserialize)]
struct ClerkHookBody {
    target: WebhookTarget,
    #[serde(rename = "type")]
    event_type: String,
    data: Value,
    #[serde(default)]
    extra_secrets: Vec<String>,
}
#[derive(Deserialize)]
struct Auth0HookBody {
    target: WebhookTarget,
    #[serde(default)]
    format: LogStreamFormat,
    records: Vec<Value>,
}
#[derive(Deserialize)]
struct OktaHookBody {
    target: WebhookTarget,
    events: Vec<Value>,
}

pub(crate) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route("/tenants/{t}", get(get_tenant).delete(delete_tenant))
        .route("/tenants/{t}/users", post(add_user).get(list_users))
        .route(
            "/tenants/{t}/users/{id}",
            patch(update_user).delete(delete_user),
        )
        .route("/tenants/{t}/groups", post(add_group).get(list_groups))
        .route(
            "/tenants/{t}/memberships",
            post(add_member).delete(remove_member),
        )
        .route("/tenants/{t}/generate", post(generate))
        .route("/tenants/{t}/keys", get(list_keys))
        .route("/tenants/{t}/keys/publish-next", post(publish_next))
        .route("/tenants/{t}/keys/rotate", post(rotate))
        .route("/tenants/{t}/keys/retire", post(retire))
        .route("/tenants/{t}/tokens", post(mint))
        .route("/tenants/{t}/clients/auth0", post(auth0_client))
        .route("/tenants/{t}/clients/clerk", post(clerk_key))
        .route("/tenants/{t}/clients/okta", post(okta_app))
        .route("/tenants/{t}/clients/oidc", post(oidc_client))
        .route("/tenants/{t}/login", put(login))
        .route("/tenants/{t}/faults", post(fault))
        .route("/tenants/{t}/rate-limit", put(rate_limit))
        .route("/tenants/{t}/export-timing", put(export_timing))
        .route(
            "/tenants/{t}/counters",
            get(counters).delete(reset_counters),
        )
        .route("/tenants/{t}/webhooks/clerk", post(hook_clerk))
        .route("/tenants/{t}/webhooks/auth0", post(hook_auth0))
        .route("/tenants/{t}/webhooks/okta", post(hook_okta))
        .route("/tenants/{t}/webhooks/okta/verify", post(hook_okta_verify))
        .route("/clock/advance", post(advance))
        .route("/health", get(|| async { "ok" }))
}

async fn create_tenant(State(st): St, Json(b): Json<CreateTenant>) -> Res {
    let info = st.create_tenant(&b.name, b.kind, b.options)?;
    if let Some(g) = b.generate {
        st.generate(&b.name, g)?;
    }
    ok(info)
}
async fn list_tenants(State(st): St) -> Res {
    ok(st.list_tenants())
}
async fn get_tenant(State(st): St, Path(t): Path<String>) -> Res {
    ok(st.tenant_info(&t)?)
}
async fn delete_tenant(State(st): St, Path(t): Path<String>) -> Res {
    st.delete_tenant(&t)?;
    ok(json!({"deleted": true}))
}
async fn add_user(State(st): St, Path(t): Path<String>, Json(b): Json<NewUser>) -> Res {
    ok(st.add_user(&t, b)?)
}
async fn list_users(State(st): St, Path(t): Path<String>) -> Res {
    ok(st.users(&t)?)
}
async fn update_user(
    State(st): St,
    Path((t, id)): Path<(String, String)>,
    Json(b): Json<UserPatch>,
) -> Res {
    ok(st.update_user(&t, &id, b)?)
}
async fn delete_user(State(st): St, Path((t, id)): Path<(String, String)>) -> Res {
    st.delete_user(&t, &id)?;
    ok(json!({"deleted": true}))
}
async fn add_group(State(st): St, Path(t): Path<String>, Json(b): Json<NewGroup>) -> Res {
    ok(st.add_group(&t, b)?)
}
async fn list_groups(State(st): St, Path(t): Path<String>) -> Res {
    ok(st.groups(&t)?)
}
async fn add_member(State(st): St, Path(t): Path<String>, Json(b): Json<MemberBody>) -> Res {
    ok(st.add_membership(&t, &b.group_id, &b.user_id, b.role)?)
}
async fn remove_member(State(st): St, Path(t): Path<String>, Json(b): Json<MemberBody>) -> Res {
    ok(st.remove_membership(&t, &b.group_id, &b.user_id)?)
}
async fn generate(State(st): St, Path(t): Path<String>, Json(b): Json<GenerateSpec>) -> Res {
    let (users, groups) = st.generate(&t, b)?;
    ok(json!({"users": users, "groups": groups}))
}
async fn list_keys(State(st): St, Path(t): Path<String>) -> Res {
    ok(st.keys(&t)?)
}
async fn publish_next(State(st): St, Path(t): Path<String>, b: Option<Json<AlgBody>>) -> Res {
    ok(json!({"kid": st.publish_next_key(&t, b.map(|b| b.0.alg).unwrap_or_default())?}))
}
async fn rotate(State(st): St, Path(t): Path<String>, b: Option<Json<AlgBody>>) -> Res {
    ok(json!({"kid": st.rotate_keys(&t, b.map(|b| b.0.alg).unwrap_or_default())?}))
}
async fn retire(State(st): St, Path(t): Path<String>) -> Res {
    ok(json!({"removed": st.retire_previous_keys(&t)?}))
}
async fn mint(State(st): St, Path(t): Path<String>, Json(b): Json<TokenSpec>) -> Res {
    ok(json!({"token": st.mint(&t, &b)?}))
}
async fn auth0_client(State(st): St, Path(t): Path<String>, Json(b): Json<ScopesBody>) -> Res {
    ok(st.register_auth0_client(&t, b.scopes)?)
}
async fn clerk_key(State(st): St, Path(t): Path<String>) -> Res {
    ok(json!({"secret_key": st.register_clerk_secret_key(&t)?}))
}
async fn okta_app(State(st): St, Path(t): Path<String>, Json(b): Json<OktaAppBody>) -> Res {
    ok(st.register_okta_service_app(&t, b.public_jwks, b.scopes, b.admin_role)?)
}
async fn oidc_client(State(st): St, Path(t): Path<String>, Json(b): Json<OidcClientBody>) -> Res {
    ok(st.register_oidc_client(
        &t,
        b.redirect_uris,
        b.post_logout_redirect_uris,
        b.auth_method,
    )?)
}
async fn login(State(st): St, Path(t): Path<String>, Json(b): Json<LoginBody>) -> Res {
    st.set_login(&t, b.user_id.as_deref())?;
    ok(json!({"ok": true}))
}
async fn fault(State(st): St, Path(t): Path<String>, Json(b): Json<Fault>) -> Res {
    st.inject_fault(&t, b)?;
    ok(json!({"ok": true}))
}
async fn rate_limit(State(st): St, Path(t): Path<String>, Json(b): Json<Option<RateLimit>>) -> Res {
    st.set_rate_limit(&t, b)?;
    ok(json!({"ok": true}))
}
async fn export_timing(State(st): St, Path(t): Path<String>, Json(b): Json<ExportTiming>) -> Res {
    st.set_export_timing(&t, b)?;
    ok(json!({"ok": true}))
}
async fn counters(State(st): St, Path(t): Path<String>) -> Res {
    ok(st.counters(&t)?)
}
async fn reset_counters(State(st): St, Path(t): Path<String>) -> Res {
    st.reset_counters(&t)?;
    ok(json!({"ok": true}))
}
async fn advance(State(st): St, Json(b): Json<ClockBody>) -> Res {
    st.clock.advance_ms(b.seconds.saturating_mul(1000));
    ok(json!({"now": st.clock.now_s()}))
}
async fn hook_clerk(State(st): St, Path(t): Path<String>, Json(b): Json<ClerkHookBody>) -> Res {
    ok(webhooks::send_clerk(&st, &t, &b.target, &b.event_type, b.data, &b.extra_secrets).await?)
}
async fn hook_auth0(State(st): St, Path(t): Path<String>, Json(b): Json<Auth0HookBody>) -> Res {
    ok(webhooks::send_auth0(&st, &t, &b.target, b.format, b.records).await?)
}
async fn hook_okta(State(st): St, Path(t): Path<String>, Json(b): Json<OktaHookBody>) -> Res {
    ok(webhooks::send_okta(&st, &t, &b.target, b.events).await?)
}
async fn hook_okta_verify(
    State(st): St,
    Path(_t): Path<String>,
    Json(b): Json<WebhookTarget>,
) -> Res {
    ok(webhooks::verify_okta(&st, &b).await?)
}
