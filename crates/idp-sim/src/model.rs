//! Directory and configuration of a simulated tenant: users, groups (Okta groups, Clerk
//! organizations), memberships, management clients, rate limit, faults and counters.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::directory::Directory;
use crate::error::SimError;
use crate::exports::Exports;
use crate::keys::KeySet;

/// Name of the one database connection every Auth0 tenant's users belong to.
pub const AUTH0_CONNECTION_NAME: &str = "Username-Password-Authentication";

/// Id of that connection (`connection_id` of a users-export job).
pub const AUTH0_CONNECTION_ID: &str = "con_1dpS1mUserDb0001";

/// Which provider a tenant imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantKind {
    /// Auth0: issuer with trailing slash, `/api/v2`, log streams.
    Auth0,
    /// Clerk: instance URL issuer, Backend API `/v1`, Svix webhooks.
    Clerk,
    /// Okta: org and custom authorization servers, `/api/v1`, event hooks.
    Okta,
    /// Plain OIDC provider: discovery and JWKS only.
    Oidc,
}

/// Lifecycle status of a user; each provider renders the ones it knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    /// Normal user.
    #[default]
    #[serde(alias = "active")]
    Active,
    /// Auth0 admin block (`"blocked": true`).
    #[serde(alias = "blocked")]
    Blocked,
    /// Clerk ban (`"banned": true`).
    #[serde(alias = "banned")]
    Banned,
    /// Okta `SUSPENDED`.
    #[serde(alias = "suspended")]
    Suspended,
    /// Okta `DEPROVISIONED` (hidden from the default user listing).
    #[serde(alias = "deprovisioned")]
    Deprovisioned,
    /// Okta `STAGED`.
    #[serde(alias = "staged")]
    Staged,
    /// Okta `LOCKED_OUT` / Clerk `locked`.
    #[serde(alias = "locked_out")]
    LockedOut,
}

impl UserStatus {
    /// Okta's status string.
    pub(crate) fn okta(self) -> &'static str {
        match self {
            Self::Active | Self::Blocked | Self::Banned => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Deprovisioned => "DEPROVISIONED",
            Self::Staged => "STAGED",
            Self::LockedOut => "LOCKED_OUT",
        }
    }
}

/// A user as the simulator stores it (provider-neutral).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Provider-shaped id: `auth0|…`, `user_…`, `00u…`.
    pub id: String,
    /// Primary email (also Okta login).
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Lifecycle status.
    pub status: UserStatus,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last update time, epoch ms.
    pub updated_ms: i64,
}

/// Input for a new user; every field optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUser {
    /// Explicit id (else generated in the provider's format).
    pub id: Option<String>,
    /// Email (default `user<N>@example.test`).
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Status (default active).
    pub status: Option<UserStatus>,
    /// Creation time in epoch ms (default: now).
    pub created_ms: Option<i64>,
}

/// Changes to a user; `None` keeps a field.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserPatch {
    /// New email.
    pub email: Option<String>,
    /// New given name.
    pub first_name: Option<String>,
    /// New family name.
    pub last_name: Option<String>,
    /// New status.
    pub status: Option<UserStatus>,
}

/// A group (Okta group, Clerk organization, Auth0 organization).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Provider-shaped id: `00g…`, `org_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Slug (Clerk) derived from the name.
    pub slug: String,
    /// Description.
    pub description: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last update, epoch ms.
    pub updated_ms: i64,
}

/// Input for a new group.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewGroup {
    /// Explicit id (else generated).
    pub id: Option<String>,
    /// Name (default `Group <N>`).
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// Membership of a user in a group, with a role (Clerk `org:member` etc.).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// Membership id (`orgmem_…` style).
    pub id: String,
    /// Group id.
    pub group_id: String,
    /// User id.
    pub user_id: String,
    /// Role (default `org:member`).
    pub role: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

/// Per-tenant fixed-window rate limit applied to management and token endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length in seconds; resets fall on multiples of it (simulated clock).
    pub window_secs: u64,
}

/// Options when creating a tenant.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantOptions {
    /// Rate limit; `None` = effectively unlimited (headers still sent where the provider does).
    pub rate_limit: Option<RateLimit>,
    /// `Cache-Control` for the JWKS response; `None` = the provider's default.
    pub jwks_cache_control: Option<String>,
    /// Okta custom authorization server ids (default `["default"]`).
    pub auth_servers: Option<Vec<String>>,
    /// Clerk webhook signing secret `whsec_…` (default generated).
    pub webhook_secret: Option<String>,
    /// How long an Auth0 users-export job stays `pending` (default: one poll).
    pub export_timing: Option<ExportTiming>,
    /// Name of the ID-token claim listing the signed-in user's group names (Okta `groups`,
    /// an Auth0 Action's namespaced claim such as `https://example.test/groups`); `None` = no
    /// groups claim, as when the provider has none configured.
    pub id_token_groups_claim: Option<String>,
}

/// How long an Auth0 users-export job answers `pending` before it is `completed` (or
/// `failed`): both conditions must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportTiming {
    /// `GET /api/v2/jobs/{id}` answers `pending` this many times first.
    pub pending_polls: u32,
    /// …and until this many simulated seconds have passed since the job was created.
    pub pending_secs: u64,
}

impl Default for ExportTiming {
    fn default() -> Self {
        Self {
            pending_polls: 1,
            pending_secs: 0,
        }
    }
}

/// A fault to inject into a tenant's HTTP surface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fault {
    /// The next `count` requests to the tenant answer `status` (default 503).
    ErrorBurst {
        /// How many requests fail.
        count: u32,
        /// HTTP status (5xx).
        #[serde(default = "default_5xx")]
        status: u16,
    },
    /// Every request is delayed by `delay_ms` before being answered (0 = off).
    Slow {
        /// Delay in milliseconds.
        delay_ms: u64,
    },
    /// Page `page` (0-based) of every list endpoint fails with the provider's 500 body,
    /// `times` times, then succeeds. The page number is `start row / page size` where the
    /// provider pages by offset (Auth0 `page`, Clerk `offset / limit`), the position in the
    /// walk where it pages by cursor (Okta: the first page is 0, the page its `next` link
    /// leads to is 1, …), and 0 for an Auth0 users-export download (a one-page listing).
    FailPage {
        /// 0-based page index.
        page: u64,
        /// How many times it fails (default 1).
        #[serde(default = "one")]
        times: u32,
    },
    /// The next `count` Auth0 users-export jobs end `failed` instead of `completed`.
    ExportJobFails {
        /// How many jobs (created after this fault) fail.
        #[serde(default = "one")]
        count: u32,
    },
    /// JWKS endpoint answers 503 while `down` is true.
    JwksDown {
        /// On or off.
        down: bool,
    },
    /// The next `count` ID tokens from a sign-in token endpoint have these claims replaced
    /// (`null` removes one): another `aud`, a past `exp`, a foreign `nonce`… — what a
    /// compromised or misbehaving provider would send, for a relying party's refusals.
    IdTokenClaims {
        /// Claims set on the ID token after the provider's own.
        claims: serde_json::Map<String, serde_json::Value>,
        /// How many ID tokens (default 1).
        #[serde(default = "one")]
        count: u32,
    },
    /// Removes every fault.
    Clear,
}

fn default_5xx() -> u16 {
    503
}
fn one() -> u32 {
    1
}

/// Active faults of a tenant.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    pub(crate) burst: u32,
    pub(crate) burst_status: u16,
    pub(crate) slow_ms: u64,
    pub(crate) fail_page: Option<(u64, u32)>,
    pub(crate) failing_exports: u32,
    pub(crate) jwks_down: bool,
    pub(crate) id_token_claims: Option<(serde_json::Map<String, serde_json::Value>, u32)>,
}

/// Request counters, for asserting client behaviour (e.g. JWKS refetch throttling).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// JWKS fetches (all JWKS paths, including ones answered by a fault).
    pub jwks_fetches: u64,
    /// Discovery document fetches.
    pub discovery_fetches: u64,
    /// Token endpoint calls (management and sign-in token endpoints of every provider).
    pub token_requests: u64,
    /// Management API calls (`/api/v2`, `/v1`, `/api/v1`).
    pub api_requests: u64,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Requests answered by an injected fault.
    pub faults_served: u64,
    /// Authorization codes handed out by the authorize endpoint.
    pub codes_issued: u64,
    /// Authorization codes exchanged for tokens (first, successful use only).
    pub codes_redeemed: u64,
}

/// Auth0 machine-to-machine application allowed to call the Management API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth0Client {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// Granted scopes (e.g. `read:users`).
    pub scopes: Vec<String>,
}

/// Okta API service app using `private_key_jwt`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OktaServiceApp {
    /// `client_id` (`0oa…`).
    pub client_id: String,
    /// Registered public JWKs (RSA or EC, each with a `kid`).
    pub public_jwks: Vec<Value>,
    /// Granted Okta API scopes (e.g. `okta.users.read`).
    pub scopes: Vec<String>,
    /// Whether an admin role is assigned (without it, API reads answer 403 E0000006).
    pub admin_role: bool,
}

/// How a sign-in client authenticates at the token endpoint; the registered method is the
/// only one accepted, as Okta and Auth0 enforce the app's configured method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// A confidential OIDC client for browser sign-in (Okta "Web app", Auth0 "Regular Web
/// Application", Clerk "OAuth application").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcClient {
    /// `client_id` in the provider's shape (Okta `0oa…`, Auth0 32 chars, Clerk 16 chars).
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// Allowed `redirect_uri` values, compared byte for byte.
    pub redirect_uris: Vec<String>,
    /// Allowed `post_logout_redirect_uri` values, compared byte for byte.
    pub post_logout_redirect_uris: Vec<String>,
    /// Token-endpoint authentication method.
    pub auth_method: ClientAuthMethod,
}

/// An authorization code waiting at the token endpoint.
#[derive(Clone, Debug)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) scope: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
    /// Okta custom authorization server the code belongs to (`None` = org / default issuer).
    pub(crate) auth_server: Option<String>,
    /// Auth0 `audience` asked at authorize (access token becomes a JWT for that API).
    pub(crate) audience: Option<String>,
    pub(crate) auth_time: i64,
    pub(crate) expires_s: i64,
    pub(crate) redeemed: bool,
}

/// An ID token this tenant issued, for `id_token_hint` at the end-session endpoint.
#[derive(Clone, Debug)]
pub(crate) struct IssuedIdToken {
    pub(crate) client_id: String,
    pub(crate) auth_server: Option<String>,
}

/// An access token the simulator issued for its management APIs.
#[derive(Clone, Debug)]
pub(crate) struct IssuedToken {
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) exp_s: i64,
}

/// Everything about one tenant; lives behind the simulator's mutex.
pub(crate) struct Tenant {
    pub(crate) name: String,
    pub(crate) kind: TenantKind,
    pub(crate) options: TenantOptions,
    pub(crate) webhook_secret: String,
    pub(crate) keys: KeySet,
    pub(crate) dir: Directory,
    pub(crate) exports: Exports,
    pub(crate) auth0_clients: HashMap<String, Auth0Client>,
    pub(crate) clerk_secret_keys: HashSet<String>,
    pub(crate) okta_apps: HashMap<String, OktaServiceApp>,
    pub(crate) oidc_clients: HashMap<String, OidcClient>,
    pub(crate) codes: HashMap<String, AuthCode>,
    pub(crate) id_tokens: HashMap<String, IssuedIdToken>,
    /// The user signed in at the provider (its browser session), chosen by the test.
    pub(crate) login: Option<String>,
    pub(crate) tokens: HashMap<String, IssuedToken>,
    pub(crate) used_jtis: HashSet<String>,
    pub(crate) rate_window: (i64, u32),
    pub(crate) faults: Faults,
    pub(crate) counters: Counters,
}

impl Tenant {
    pub(crate) fn new(
        name: &str,
        kind: TenantKind,
        options: TenantOptions,
        secret: String,
    ) -> Self {
        Self {
            name: name.to_string(),
            kind,
            webhook_secret: options.webhook_secret.clone().unwrap_or(secret),
            options,
            keys: KeySet::default(),
            dir: Directory::new(name, kind),
            exports: Exports::default(),
            auth0_clients: HashMap::new(),
            clerk_secret_keys: HashSet::new(),
            okta_apps: HashMap::new(),
            oidc_clients: HashMap::new(),
            codes: HashMap::new(),
            id_tokens: HashMap::new(),
            login: None,
            tokens: HashMap::new(),
            used_jtis: HashSet::new(),
            rate_window: (0, 0),
            faults: Faults::default(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn not_found(&self, what: &'static str, id: &str) -> SimError {
        SimError::NotFound {
            tenant: self.name.clone(),
            what,
            id: id.to_string(),
        }
    }

    pub(crate) fn apply_fault(&mut self, fault: Fault) {
        match fault {
            Fault::ErrorBurst { count, status } => {
                self.faults.burst = count;
                self.faults.burst_status = status;
            }
            Fault::Slow { delay_ms } => self.faults.slow_ms = delay_ms,
            Fault::FailPage { page, times } => self.faults.fail_page = Some((page, times)),
            Fault::ExportJobFails { count } => self.faults.failing_exports = count,
            Fault::JwksDown { down } => self.faults.jwks_down = down,
            Fault::IdTokenClaims { claims, count } => {
                self.faults.id_token_claims = (count > 0).then_some((claims, count));
            }
            Fault::Clear => self.faults = Faults::default(),
        }
    }

    /// Consumes one failure of the page fault if `page` is the faulty one.
    pub(crate) fn take_page_fault(&mut self, page: u64) -> bool {
        match self.faults.fail_page {
            Some((p, times)) if p == page && times > 0 => {
                self.faults.fail_page = if times > 1 {
                    Some((p, times - 1))
                } else {
                    None
                };
                self.counters.faults_served += 1;
                true
            }
            _ => false,
        }
    }
}
