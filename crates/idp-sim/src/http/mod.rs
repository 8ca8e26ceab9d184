//! HTTP surface: `/_control/…` for tests and tools, and `/<tenant>/…` for each simulated
//! provider. Tenant requests pass through faults, then the rate limiter, then the
//! provider-specific handler, all under one short lock of the tenant.

mod auth0;
mod clerk;
pub(crate) mod control;
mod oidc;
mod okta;
mod signin;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::model::{RateLimit, Tenant, TenantKind};
use crate::state::SimState;

/// The parsed pieces of a tenant request.
pub(crate) struct Req {
    pub(crate) method: Method,
    /// Path after `/<tenant>`, starting with `/`.
    pub(crate) rest: String,
    pub(crate) raw_query: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Req {
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn q_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub(crate) fn bearer(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
    }

    /// Form or JSON body as string pairs.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        let is_json = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
            v.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            url::form_urlencoded::parse(&self.body)
                .into_owned()
                .collect()
        }
    }
}

pub(crate) fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Builds the axum router for a simulator.
pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .nest("/_control", control::router())
        .fallback(tenant_dispatch)
        .with_state(state)
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// Error body in the provider's own shape.
pub(crate) fn provider_error(kind: TenantKind, status: u16, code: &str, message: &str) -> Response {
    let st = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match kind {
        TenantKind::Auth0 => json!({
            "statusCode": status,
            "error": st.canonical_reason().unwrap_or("Error"),
            "message": message,
            "errorCode": code,
        }),
        TenantKind::Clerk => json!({
            "errors": [{ "code": code, "message": message, "long_message": message, "meta": {} }],
            "clerk_trace_id": crate::state::random_token(16),
        }),
        TenantKind::Okta => json!({
            "errorCode": code,
            "errorSummary": message,
            "errorLink": code,
            "errorId": format!("oae{}", crate::state::random_token(10)),
            "errorCauses": [],
        }),
        TenantKind::Oidc => json!({ "error": code, "error_description": message }),
    };
    json_response(st, &body)
}

/// OAuth-style token endpoint error.
pub(crate) fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let st = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(
        st,
        &json!({ "error": error, "error_description": description }),
    )
}

pub(crate) fn server_error(kind: TenantKind, status: u16) -> Response {
    match kind {
        TenantKind::Okta => provider_error(kind, status, "E0000009", "Internal Server Error"),
        TenantKind::Clerk => provider_error(
            kind,
            status,
            "internal_clerk_error",
            "Oops, an unexpected error occurred",
        ),
        _ => provider_error(
            kind,
            status,
            "server_error",
            "Internal server error (injected by idp-sim)",
        ),
    }
}

/// Rate-limit decision for one request.
pub(crate) struct RateDecision {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset_s: i64,
    pub(crate) limited: bool,
}

fn rate_check(t: &mut Tenant, now_s: i64) -> RateDecision {
    let rl = t.options.rate_limit.unwrap_or(RateLimit {
        limit: 1_000_000,
        window_secs: 60,
    });
    let window = i64::try_from(rl.window_secs).unwrap_or(60).max(1);
    let start = now_s - now_s.rem_euclid(window);
    if t.rate_window.0 != start {
        t.rate_window = (start, 0);
    }
    t.rate_window.1 = t.rate_window.1.saturating_add(1);
    let used = t.rate_window.1;
    RateDecision {
        limit: rl.limit,
        remaining: rl.limit.saturating_sub(used),
        reset_s: start + window,
        limited: used > rl.limit,
    }
}

fn add_rate_headers(kind: TenantKind, resp: &mut Response, d: &RateDecision) {
    let names = match kind {
        TenantKind::Auth0 => [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ],
        TenantKind::Okta => [
            "x-rate-limit-limit",
            "x-rate-limit-remaining",
            "x-rate-limit-reset",
        ],
        _ => return,
    };
    let values = [
        d.limit.to_string(),
        d.remaining.to_string(),
        d.reset_s.to_string(),
    ];
    for (n, v) in names.iter().zip(values) {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(*n, v);
        }
    }
}

fn too_many(kind: TenantKind, d: &RateDecision, now_s: i64) -> Response {
    let mut resp = match kind {
        TenantKind::Auth0 => provider_error(
            kind,
            429,
            "too_many_requests",
            "Global limit has been reached",
        ),
        TenantKind::Okta => provider_error(
            kind,
            429,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
        ),
        _ => provider_error(
            kind,
            429,
            "too_many_requests",
            "Too many requests, please retry later",
        ),
    };
    if kind == TenantKind::Clerk {
        let secs = (d.reset_s - now_s).max(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// Which part of a tenant a request targets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Area {
    Discovery,
    Jwks,
    Token,
    /// Browser sign-in: authorize (GET).
    Authorize,
    /// RP-initiated logout (GET).
    Logout,
    Api,
    /// Authenticated but not rate limited (Clerk `GET /v1/jwks`).
    ApiUnlimited,
    /// A pre-signed file download (Auth0 users-export `location`): no bearer, no rate limit.
    Download,
    Unknown,
}

fn classify(kind: TenantKind, method: &Method, rest: &str) -> Area {
    if rest.ends_with("/.well-known/openid-configuration")
        || rest.ends_with("/.well-known/oauth-authorization-server")
    {
        return Area::Discovery;
    }
    let post = method == Method::POST;
    match signin::endpoint(kind, rest) {
        Some((signin::Endpoint::Authorize, _)) if method == Method::GET => return Area::Authorize,
        Some((signin::Endpoint::Logout, _)) if method == Method::GET => return Area::Logout,
        Some((signin::Endpoint::Token, _)) if post => return Area::Token,
        _ => {}
    }
    match kind {
        TenantKind::Auth0 if rest == "/.well-known/jwks.json" => Area::Jwks,
        TenantKind::Auth0 if rest == "/oauth/token" && post => Area::Token,
        TenantKind::Auth0 if rest.starts_with("/api/v2/") => Area::Api,
        TenantKind::Auth0 if rest.starts_with("/exports/") && method == Method::GET => {
            Area::Download
        }
        TenantKind::Clerk if rest == "/.well-known/jwks.json" => Area::Jwks,
        TenantKind::Clerk if rest == "/v1/jwks" => Area::ApiUnlimited,
        TenantKind::Clerk if rest.starts_with("/v1/") => Area::Api,
        TenantKind::Okta if rest.starts_with("/oauth2/") && rest.ends_with("/v1/keys") => {
            Area::Jwks
        }
        TenantKind::Okta if rest == "/oauth2/v1/token" && post => Area::Token,
        TenantKind::Okta if rest.starts_with("/api/v1/") => Area::Api,
        TenantKind::Oidc if rest == "/jwks" => Area::Jwks,
        _ => Area::Unknown,
    }
}

async fn tenant_dispatch(State(st): State<Arc<SimState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().trim_start_matches('/');
    let (tenant, rest) = match path.find('/') {
        Some(i) => (path[..i].to_string(), path[i..].to_string()),
        None => (path.to_string(), "/".to_string()),
    };
    let Ok(body) = axum::body::to_bytes(body, 8 << 20).await else {
        return json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"error": "body too large"}),
        );
    };
    let slow = st.lock().get(&tenant).map(|t| (t.kind, t.faults.slow_ms));
    let Some((kind, slow_ms)) = slow else {
        let msg = format!(
            "no tenant `{tenant}` in this simulator; create it with POST /_control/tenants"
        );
        return json_response(StatusCode::NOT_FOUND, &json!({ "error": msg }));
    };
    if slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(slow_ms)).await;
    }
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let r = Req {
        method: parts.method,
        query: url::form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect(),
        raw_query,
        rest,
        headers: parts.headers,
        body,
    };
    let area = classify(kind, &r.method, &r.rest);
    let now_s = st.clock.now_s();
    let mut map = st.lock();
    let Some(t) = map.get_mut(&tenant) else {
        return json_response(StatusCode::NOT_FOUND, &json!({ "error": "tenant deleted" }));
    };
    match area {
        Area::Discovery => t.counters.discovery_fetches += 1,
        Area::Jwks => t.counters.jwks_fetches += 1,
        Area::Token => t.counters.token_requests += 1,
        Area::Authorize | Area::Logout => {}
        Area::Api => t.counters.api_requests += 1,
        Area::ApiUnlimited => t.counters.jwks_fetches += 1,
        Area::Download | Area::Unknown => {}
    }
    if t.faults.burst > 0 {
        t.faults.burst -= 1;
        t.counters.faults_served += 1;
        return server_error(kind, t.faults.burst_status);
    }
    match area {
        Area::Discovery => oidc::discovery(&st, t, &r.rest),
        Area::Jwks => {
            if t.faults.jwks_down {
                t.counters.faults_served += 1;
                return server_error(kind, 503);
            }
            oidc::jwks(&st, t, &r.rest)
        }
        Area::ApiUnlimited => clerk::api(&st, t, &r, now_s),
        Area::Download => auth0::download(t, &r),
        Area::Authorize => signin::authorize(&st, t, &r, now_s, signin_server(kind, &r.rest)),
        Area::Logout => signin::logout(t, &r, signin_server(kind, &r.rest)),
        Area::Token | Area::Api => {
            let d = rate_check(t, now_s);
            let mut resp = if d.limited {
                t.counters.rate_limited += 1;
                too_many(kind, &d, now_s)
            } else {
                let server = signin_server(kind, &r.rest);
                let management = matches!(kind, TenantKind::Auth0 | TenantKind::Okta)
                    && server.is_none()
                    && field(&r.form(), "grant_type") != Some("authorization_code");
                match (kind, area) {
                    (_, Area::Token) if !management => signin::token(&st, t, &r, now_s, server),
                    (TenantKind::Auth0, Area::Token) => auth0::token(&st, t, &r, now_s),
                    (TenantKind::Auth0, _) => auth0::api(&st, t, &r, now_s),
                    (TenantKind::Okta, Area::Token) => okta::token(&st, t, &r, now_s),
                    (TenantKind::Okta, _) => okta::api(&st, t, &r, now_s),
                    (TenantKind::Clerk, _) => clerk::api(&st, t, &r, now_s),
                    _ => not_found(kind, &r.rest),
                }
            };
            add_rate_headers(kind, &mut resp, &d);
            resp
        }
        Area::Unknown => not_found(kind, &r.rest),
    }
}

/// The Okta custom authorization server a sign-in endpoint path belongs to.
fn signin_server(kind: TenantKind, rest: &str) -> Option<String> {
    signin::endpoint(kind, rest).and_then(|(_, server)| server)
}

pub(crate) fn not_found(kind: TenantKind, what: &str) -> Response {
    match kind {
        TenantKind::Okta => provider_error(
            kind,
            404,
            "E0000007",
            &format!("Not found: Resource not found: {what}"),
        ),
        TenantKind::Clerk => provider_error(kind, 404, "resource_not_found", "Resource not found"),
        _ => provider_error(kind, 404, "not_found", &format!("Not Found: {what}")),
    }
}

/// The injected `fail_page` answer for page `page` of a listing, if that page is the faulty one.
pub(crate) fn page_fault(t: &mut Tenant, page: u64) -> Option<Response> {
    t.take_page_fault(page).then(|| server_error(t.kind, 500))
}

/// Parses a non-negative integer query parameter.
pub(crate) fn q_u64(r: &Req, name: &str) -> Result<Option<u64>, String> {
    match r.q(name) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("`{name}` must be a non-negative integer, got `{v}`")),
    }
}
