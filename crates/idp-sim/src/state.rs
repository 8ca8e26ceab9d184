//! Shared simulator state and every operation on it; the Rust handle (`IdpSim`) and the
//! `/_control` HTTP API are two thin doors onto these functions.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use aws_lc_rs::rand::SecureRandom as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::error::SimError;
use crate::keys::{KeyInfo, TokenAlg, sign_compact};
use crate::model::{
    Auth0Client, ClientAuthMethod, Counters, ExportTiming, Fault, Group, Membership, NewGroup,
    NewUser, OidcClient, OktaServiceApp, RateLimit, Tenant, TenantKind, TenantOptions, User,
    UserPatch,
};

/// What to put in a minted token. Claims given here override the defaults
/// (`iss`, `iat`, `exp`, `jti`, provider extras); a claim set to JSON `null` is removed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenSpec {
    /// Signing algorithm (default RS256 with the active key).
    pub alg: TokenAlg,
    /// Claims, e.g. `sub`, `aud` (string or array), `groups`, custom ones.
    pub claims: Map<String, Value>,
    /// Header `kid` override (e.g. an unknown kid).
    pub kid: Option<String>,
    /// Leave `kid` out of the header.
    pub omit_kid: bool,
    /// Okta custom authorization server id: issuer becomes `<base>/oauth2/<id>`.
    pub auth_server: Option<String>,
    /// Lifetime in seconds from now (default 3600; negative = already expired).
    pub expires_in: Option<i64>,
    /// Sets `nbf` to now + this many seconds (positive = not yet valid).
    pub not_before_in: Option<i64>,
}

impl TokenSpec {
    /// A spec with the given `sub` and `aud`.
    pub fn new(sub: &str, aud: Value) -> Self {
        let mut s = Self::default();
        s.claims.insert("sub".into(), json!(sub));
        s.claims.insert("aud".into(), aud);
        s
    }

    /// Adds or replaces a claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }
}

/// Public facts about a tenant: URLs and generated secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantInfo {
    /// Tenant name (path prefix).
    pub name: String,
    /// Provider kind.
    pub kind: TenantKind,
    /// `http://127.0.0.1:<port>/<name>`.
    pub base_url: String,
    /// Issuer of the default authorization server, byte-exact (Auth0 ends with `/`).
    pub issuer: String,
    /// Discovery document URL.
    pub discovery_url: String,
    /// JWKS URL.
    pub jwks_uri: String,
    /// Management token endpoint (Auth0 `/oauth/token`, Okta `/oauth2/v1/token`).
    pub token_endpoint: Option<String>,
    /// Auth0 Management API audience `<base>/api/v2/`.
    pub management_audience: Option<String>,
    /// Clerk Svix signing secret `whsec_…`.
    pub webhook_secret: Option<String>,
}

/// How many users/groups/memberships to generate.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateSpec {
    /// Users to add (created one second apart, ending now).
    pub users: usize,
    /// Groups to add.
    pub groups: usize,
    /// Each user joins this many groups (round robin).
    pub memberships_per_user: usize,
}

/// Simulator state shared by the HTTP server and the handle.
pub(crate) struct SimState {
    pub(crate) base_url: String,
    pub(crate) clock: Clock,
    tenants: Mutex<HashMap<String, Tenant>>,
    pub(crate) http: reqwest::Client,
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // SystemRandom only fails if the OS RNG is broken; fall back to a v4 UUID's bytes then.
    if aws_lc_rs::rand::SystemRandom::new().fill(&mut buf).is_err() {
        buf = uuid::Uuid::new_v4().as_bytes().to_vec();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl SimState {
    pub(crate) fn new(base_url: String) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            base_url,
            clock: Clock::default(),
            tenants: Mutex::new(HashMap::new()),
            http,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, Tenant>> {
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the named tenant under the lock.
    pub(crate) fn with_tenant<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Tenant) -> Result<R, SimError>,
    ) -> Result<R, SimError> {
        let mut map = self.lock();
        let t = map
            .get_mut(name)
            .ok_or_else(|| SimError::UnknownTenant(name.to_string()))?;
        f(t)
    }

    pub(crate) fn tenant_base(&self, name: &str) -> String {
        format!("{}/{name}", self.base_url)
    }

    /// Issuer string, byte-exact per provider.
    pub(crate) fn issuer(&self, name: &str, kind: TenantKind, auth_server: Option<&str>) -> String {
        let base = self.tenant_base(name);
        match (kind, auth_server) {
            (TenantKind::Auth0, _) => format!("{base}/"),
            (TenantKind::Okta, Some(id)) => format!("{base}/oauth2/{id}"),
            _ => base,
        }
    }

    pub(crate) fn jwks_uri(
        &self,
        name: &str,
        kind: TenantKind,
        auth_server: Option<&str>,
    ) -> String {
        let base = self.tenant_base(name);
        match (kind, auth_server) {
            (TenantKind::Okta, Some(id)) => format!("{base}/oauth2/{id}/v1/keys"),
            (TenantKind::Okta, None) => format!("{base}/oauth2/v1/keys"),
            (TenantKind::Oidc, _) => format!("{base}/jwks"),
            _ => format!("{base}/.well-known/jwks.json"),
        }
    }

    fn info(&self, t: &Tenant) -> TenantInfo {
        let base = self.tenant_base(&t.name);
        let issuer = self.issuer(&t.name, t.kind, None);
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        TenantInfo {
            name: t.name.clone(),
            kind: t.kind,
            issuer,
            discovery_url: discovery,
            jwks_uri: self.jwks_uri(&t.name, t.kind, None),
            token_endpoint: match t.kind {
                TenantKind::Auth0 => Some(format!("{base}/oauth/token")),
                TenantKind::Okta => Some(format!("{base}/oauth2/v1/token")),
                _ => None,
            },
            management_audience: (t.kind == TenantKind::Auth0).then(|| format!("{base}/api/v2/")),
            webhook_secret: (t.kind == TenantKind::Clerk).then(|| t.webhook_secret.clone()),
            base_url: base,
        }
    }

    pub(crate) fn create_tenant(
        &self,
        name: &str,
        kind: TenantKind,
        options: TenantOptions,
    ) -> Result<TenantInfo, SimError> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid || self.lock().contains_key(name) {
            return Err(SimError::BadTenantName(name.to_string()));
        }
        let secret = format!("whsec_{}", STANDARD.encode(random_token(24)));
        let mut tenant = Tenant::new(name, kind, options, secret);
        // Key generation happens outside the lock: RSA 2048 takes a moment.
        tenant.keys.rotate(name, TokenAlg::RS256)?;
        let mut map = self.lock();
        if map.contains_key(name) {
            return Err(SimError::BadTenantName(name.to_string()));
        }
        let info = self.info(&tenant);
        map.insert(name.to_string(), tenant);
        Ok(info)
    }

    pub(crate) fn tenant_info(&self, name: &str) -> Result<TenantInfo, SimError> {
        self.with_tenant(name, |t| Ok(self.info(t)))
    }

    pub(crate) fn list_tenants(&self) -> Vec<TenantInfo> {
        let map = self.lock();
        let mut v: Vec<TenantInfo> = map.values().map(|t| self.info(t)).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub(crate) fn delete_tenant(&self, name: &str) -> Result<(), SimError> {
        self.lock()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| SimError::UnknownTenant(name.to_string()))
    }

    pub(crate) fn add_user(&self, tenant: &str, new: NewUser) -> Result<User, SimError> {
        let now = self.clock.now_ms();
        self.with_tenant(tenant, |t| t.dir.add_user(new, now))
    }

    pub(crate) fn update_user(
        &self,
        tenant: &str,
        id: &str,
        patch: UserPatch,
    ) -> Result<User, SimError> {
        let now = self.clock.now_ms();
        self.with_tenant(tenant, |t| t.dir.patch_user(id, patch, now))
    }

    pub(crate) fn delete_user(&self, tenant: &str, id: &str) -> Result<(), SimError> {
        self.with_tenant(tenant, |t| t.dir.delete_user(id))
    }

    pub(crate) fn users(&self, tenant: &str) -> Result<Vec<User>, SimError> {
        self.with_tenant(tenant, |t| Ok(t.dir.users().to_vec()))
    }

    pub(crate) fn add_group(&self, tenant: &str, new: NewGroup) -> Result<Group, SimError> {
        let now = self.clock.now_ms();
        self.with_tenant(tenant, |t| t.dir.add_group(new, now))
    }

    pub(crate) fn groups(&self, tenant: &str) -> Result<Vec<Group>, SimError> {
        self.with_tenant(tenant, |t| Ok(t.dir.groups().to_vec()))
    }

    pub(crate) fn add_membership(
        &self,
        tenant: &str,
        group_id: &str,
        user_id: &str,
        role: Option<String>,
    ) -> Result<Membership, SimError> {
        let now = self.clock.now_ms();
        self.with_tenant(tenant, |t| {
            t.dir.add_membership(group_id, user_id, role, now)
        })
    }

    pub(crate) fn remove_membership(
        &self,
        tenant: &str,
        group_id: &str,
        user_id: &str,
    ) -> Result<Membership, SimError> {
        self.with_tenant(tenant, |t| t.dir.remove_membership(group_id, user_id))
    }

    pub(crate) fn generate(
        &self,
        tenant: &str,
        spec: GenerateSpec,
    ) -> Result<(usize, usize), SimError> {
        let now = self.clock.now_ms();
        self.with_tenant(tenant, |t| {
            let d = &mut t.dir;
            let first_user = d.users().len();
            let first_group = d.groups().len();
            for i in 0..spec.users {
                let back = i64::try_from(spec.users - i).unwrap_or(i64::MAX / 2) * 1000;
                let new = NewUser {
                    created_ms: Some(now - back),
                    ..NewUser::default()
                };
                d.add_user(new, now)?;
            }
            for _ in 0..spec.groups {
                d.add_group(NewGroup::default(), now)?;
            }
            let gids: Vec<String> = d.groups().iter().map(|g| g.id.clone()).collect();
            if !gids.is_empty() {
                let uids: Vec<String> = d
                    .users()
                    .get(first_user..)
                    .unwrap_or_default()
                    .iter()
                    .map(|u| u.id.clone())
                    .collect();
                for (i, uid) in uids.iter().enumerate() {
                    for k in 0..spec.memberships_per_user.min(gids.len()) {
                        if let Some(g) = gids.get((i + k) % gids.len()) {
                            d.add_membership(g, uid, None, now)?;
                        }
                    }
                }
            }
            Ok((d.users().len() - first_user, d.groups().len() - first_group))
        })
    }

    pub(crate) fn publish_next_key(&self, tenant: &str, alg: TokenAlg) -> Result<String, SimError> {
        self.with_tenant(tenant, |t| {
            let name = t.name.clone();
            t.keys.publish_next(&name, alg)
        })
    }

    pub(crate) fn rotate_keys(&self, tenant: &str, alg: TokenAlg) -> Result<String, SimError> {
        self.with_tenant(tenant, |t| {
            let name = t.name.clone();
            t.keys.rotate(&name, alg)
        })
    }

    pub(crate) fn retire_previous_keys(&self, tenant: &str) -> Result<Vec<String>, SimError> {
        self.with_tenant(tenant, |t| Ok(t.keys.retire_previous()))
    }

    pub(crate) fn keys(&self, tenant: &str) -> Result<Vec<KeyInfo>, SimError> {
        self.with_tenant(tenant, |t| Ok(t.keys.infos()))
    }

    pub(crate) fn jwks(&self, tenant: &str) -> Result<Value, SimError> {
        self.with_tenant(tenant, |t| Ok(t.keys.jwks()))
    }

    pub(crate) fn rsa_public_pem(&self, tenant: &str) -> Result<String, SimError> {
        self.with_tenant(tenant, |t| {
            let name = t.name.clone();
            let key = t.keys.active(&name, TokenAlg::RS256)?;
            key.public_pem()
                .map(str::to_string)
                .ok_or_else(|| SimError::Crypto("active RSA key has no PEM".into()))
        })
    }

    pub(crate) fn mint(&self, tenant: &str, spec: &TokenSpec) -> Result<String, SimError> {
        let now = self.clock.now_s();
        self.with_tenant(tenant, |t| self.mint_locked(t, spec, now))
    }

    /// Mints under an already-held tenant lock (used by the token endpoints too).
    pub(crate) fn mint_locked(
        &self,
        t: &mut Tenant,
        spec: &TokenSpec,
        now: i64,
    ) -> Result<String, SimError> {
        if let (Some(id), TenantKind::Okta) = (&spec.auth_server, t.kind) {
            let known = t
                .options
                .auth_servers
                .clone()
                .unwrap_or_else(|| vec!["default".into()]);
            if !known.contains(id) {
                return Err(SimError::invalid(
                    "auth_server",
                    format!("`{id}` is not one of {known:?}"),
                ));
            }
        }
        let mut claims = Map::new();
        claims.insert(
            "iss".into(),
            json!(self.issuer(&t.name, t.kind, spec.auth_server.as_deref())),
        );
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + spec.expires_in.unwrap_or(3600)));
        claims.insert("jti".into(), json!(random_token(12)));
        match t.kind {
            TenantKind::Clerk => {
                claims.insert("nbf".into(), json!(now - 5));
                claims.insert("v".into(), json!(2));
            }
            TenantKind::Okta if spec.auth_server.is_some() => {
                claims.insert("ver".into(), json!(1));
                claims.insert("aud".into(), json!("api://default"));
            }
            _ => {}
        }
        if let Some(nbf) = spec.not_before_in {
            claims.insert("nbf".into(), json!(now + nbf));
        }
        for (k, v) in &spec.claims {
            if v.is_null() {
                claims.remove(k);
            } else {
                claims.insert(k.clone(), v.clone());
            }
        }
        let name = t.name.clone();
        let key = t.keys.active(&name, spec.alg)?;
        let alg_name = match spec.alg {
            TokenAlg::RS256 => "RS256",
            TokenAlg::ES256 => "ES256",
            TokenAlg::EdDSA => "EdDSA",
            TokenAlg::HS256 => "HS256",
            TokenAlg::None => "none",
        };
        let mut header = json!({ "alg": alg_name, "typ": "JWT" });
        if !spec.omit_kid {
            header["kid"] = json!(spec.kid.clone().unwrap_or_else(|| key.kid.clone()));
        }
        sign_compact(spec.alg, &header, &Value::Object(claims), key)
    }

    pub(crate) fn register_auth0_client(
        &self,
        tenant: &str,
        scopes: Vec<String>,
    ) -> Result<Auth0Client, SimError> {
        self.with_tenant(tenant, |t| {
            let client = Auth0Client {
                client_id: format!("sim{}", random_token(14)),
                client_secret: random_token(32),
                scopes,
            };
            t.auth0_clients
                .insert(client.client_id.clone(), client.clone());
            Ok(client)
        })
    }

    pub(crate) fn register_oidc_client(
        &self,
        tenant: &str,
        redirect_uris: Vec<String>,
        post_logout_redirect_uris: Vec<String>,
        auth_method: ClientAuthMethod,
    ) -> Result<OidcClient, SimError> {
        if redirect_uris.is_empty() {
            return Err(SimError::invalid(
                "redirect_uris",
                "register at least one redirect URI: authorize only redirects to registered ones",
            ));
        }
        for (field, uris) in [
            ("redirect_uris", &redirect_uris),
            ("post_logout_redirect_uris", &post_logout_redirect_uris),
        ] {
            if let Some(bad) = uris.iter().find(|u| url::Url::parse(u).is_err()) {
                return Err(SimError::invalid(
                    field,
                    format!("`{bad}` is not an absolute URL"),
                ));
            }
        }
        self.with_tenant(tenant, |t| {
            let client_id = match t.kind {
                TenantKind::Okta => format!("0oa{}", &random_token(9)[..17]),
                TenantKind::Auth0 => random_token(16),
                TenantKind::Clerk | TenantKind::Oidc => random_token(8),
            };
            let client = OidcClient {
                client_id,
                client_secret: random_token(32),
                redirect_uris,
                post_logout_redirect_uris,
                auth_method,
            };
            t.oidc_clients
                .insert(client.client_id.clone(), client.clone());
            Ok(client)
        })
    }

    pub(crate) fn set_login(&self, tenant: &str, user_id: Option<&str>) -> Result<(), SimError> {
        self.with_tenant(tenant, |t| {
            if let Some(id) = user_id
                && t.dir.user(id).is_none()
            {
                return Err(t.not_found("user", id));
            }
            t.login = user_id.map(str::to_string);
            Ok(())
        })
    }

    pub(crate) fn register_clerk_secret_key(&self, tenant: &str) -> Result<String, SimError> {
        self.with_tenant(tenant, |t| {
            let key = format!("sk_test_{}", random_token(20));
            t.clerk_secret_keys.insert(key.clone());
            Ok(key)
        })
    }

    pub(crate) fn register_okta_service_app(
        &self,
        tenant: &str,
        public_jwks: Vec<Value>,
        scopes: Vec<String>,
        admin_role: bool,
    ) -> Result<OktaServiceApp, SimError> {
        for (i, jwk) in public_jwks.iter().enumerate() {
            let parsed: Result<jsonwebtoken::jwk::Jwk, _> = serde_json::from_value(jwk.clone());
            if parsed.is_err() || jwk.get("kid").and_then(Value::as_str).is_none() {
                return Err(SimError::invalid(
                    "public_jwks",
                    format!("entry {i} must be an RSA or EC public JWK with a `kid`"),
                ));
            }
        }
        self.with_tenant(tenant, |t| {
            let app = OktaServiceApp {
                client_id: format!("0oa{}", &random_token(9)[..17]),
                public_jwks,
                scopes,
                admin_role,
            };
            t.okta_apps.insert(app.client_id.clone(), app.clone());
            Ok(app)
        })
    }

    pub(crate) fn set_okta_admin_role(
        &self,
        tenant: &str,
        client_id: &str,
        admin_role: bool,
    ) -> Result<(), SimError> {
        self.with_tenant(tenant, |t| {
            let app = t.okta_apps.get_mut(client_id);
            match app {
                Some(a) => {
                    a.admin_role = admin_role;
                    Ok(())
                }
                None => Err(t.not_found("service app", client_id)),
            }
        })
    }

    pub(crate) fn inject_fault(&self, tenant: &str, fault: Fault) -> Result<(), SimError> {
        self.with_tenant(tenant, |t| {
            t.apply_fault(fault);
            Ok(())
        })
    }

    pub(crate) fn set_rate_limit(
        &self,
        tenant: &str,
        limit: Option<RateLimit>,
    ) -> Result<(), SimError> {
        if let Some(l) = limit
            && (l.limit == 0 || l.window_secs == 0)
        {
            return Err(SimError::invalid(
                "rate_limit",
                "limit and window_secs must be at least 1",
            ));
        }
        self.with_tenant(tenant, |t| {
            t.options.rate_limit = limit;
            t.rate_window = (0, 0);
            Ok(())
        })
    }

    pub(crate) fn set_export_timing(
        &self,
        tenant: &str,
        timing: ExportTiming,
    ) -> Result<(), SimError> {
        self.with_tenant(tenant, |t| {
            t.options.export_timing = Some(timing);
            Ok(())
        })
    }

    pub(crate) fn counters(&self, tenant: &str) -> Result<Counters, SimError> {
        self.with_tenant(tenant, |t| Ok(t.counters.clone()))
    }

    pub(crate) fn reset_counters(&self, tenant: &str) -> Result<(), SimError> {
        self.with_tenant(tenant, |t| {
            t.counters = Counters::default();
            Ok(())
        })
    }
}
