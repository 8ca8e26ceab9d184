//! Browser sign-in as each provider answers it: the authorize endpoint (exact `redirect_uri`,
//! PKCE S256, the login of a test-chosen user), the authorization-code grant at the token
//! endpoint (client authentication, single-use short-lived codes, ID tokens with the
//! provider's claim set) and RP-initiated logout. Errors keep each provider's status codes
//! and `error` values; `error_description` texts are close to, not copies of, the real ones.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use super::{Req, field, json_response, not_found, oauth_error};
use crate::clock::iso_ms;
use crate::model::{
    AuthCode, ClientAuthMethod, IssuedIdToken, OidcClient, Tenant, TenantKind, User, UserStatus,
};
use crate::state::{SimState, TokenSpec, random_token};

/// Authorization codes live this long on the simulated clock (Okta documents 60 s).
const CODE_TTL_S: i64 = 60;

/// One of the sign-in endpoints of a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Authorize,
    Token,
    Logout,
}

/// Which sign-in endpoint `rest` is, with the Okta custom authorization server it belongs to.
/// Layouts follow the providers: Auth0 `/authorize`, `/oauth/token`, `/oidc/logout`; Okta
/// `/oauth2[/{id}]/v1/authorize|token|logout`; Clerk `/oauth/authorize|token` (no logout);
/// plain OIDC `/authorize`, `/token`, `/logout`.
pub(super) fn endpoint(kind: TenantKind, rest: &str) -> Option<(Endpoint, Option<String>)> {
    use Endpoint::{Authorize, Logout, Token};
    let ep = match (kind, rest) {
        (TenantKind::Auth0, "/authorize") => Authorize,
        (TenantKind::Auth0, "/oauth/token") => Token,
        (TenantKind::Auth0, "/oidc/logout") => Logout,
        (TenantKind::Clerk, "/oauth/authorize") => Authorize,
        (TenantKind::Clerk, "/oauth/token") => Token,
        (TenantKind::Oidc, "/authorize") => Authorize,
        (TenantKind::Oidc, "/token") => Token,
        (TenantKind::Oidc, "/logout") => Logout,
        (TenantKind::Okta, _) => {
            let after = rest.strip_prefix("/oauth2/")?;
            let (server, tail) = match after.strip_prefix("v1/") {
                Some(tail) => (None, tail),
                None => {
                    let (id, tail) = after.split_once("/v1/")?;
                    (Some(id.to_string()), tail)
                }
            };
            let ep = match tail {
                "authorize" => Authorize,
                "token" => Token,
                "logout" => Logout,
                _ => return None,
            };
            return Some((ep, server));
        }
        _ => return None,
    };
    Some((ep, None))
}

/// Whether an Okta custom authorization server id is configured for the tenant.
fn known_server(t: &Tenant, server: Option<&str>) -> bool {
    server.is_none_or(|id| {
        t.options
            .auth_servers
            .as_ref()
            .map_or(id == "default", |known| known.iter().any(|k| k == id))
    })
}

/// The provider's error page for a request it will not redirect (unknown client, unregistered
/// `redirect_uri` or `post_logout_redirect_uri`): redirecting there would be an open redirect.
fn error_page(kind: TenantKind, error: &str, description: &str) -> Response {
    let title = match kind {
        TenantKind::Okta => "400 Bad Request",
        TenantKind::Auth0 => "Oops!, something went wrong",
        TenantKind::Clerk | TenantKind::Oidc => "Error",
    };
    let body = format!(
        "<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>\
         <p id=\"error\">{}</p><p id=\"error_description\">{}</p></body></html>",
        html_escape(error),
        html_escape(description)
    );
    html(StatusCode::BAD_REQUEST, body)
}

fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 302 to `uri` with `params` appended to its query (an existing query is kept).
fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        return error_page(
            TenantKind::Oidc,
            "invalid_request",
            "registered redirect URI is not a URL",
        );
    };
    if !params.is_empty() {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Whether the provider puts RFC 9207 `iss` in the authorization response. Only the plain
/// OIDC tenant does (and advertises `authorization_response_iss_parameter_supported`); the
/// Auth0, Okta and Clerk discovery documents do not advertise it.
fn sends_iss(kind: TenantKind) -> bool {
    kind == TenantKind::Oidc
}

/// The error redirect of the authorize endpoint: `error`, `error_description`, `state`.
fn error_redirect(
    kind: TenantKind,
    issuer: &str,
    uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    if sends_iss(kind) {
        params.push(("iss", issuer));
    }
    redirect(uri, &params)
}

/// How a provider refuses a user who may not sign in (suspended, blocked, banned, …).
fn refusal(kind: TenantKind, status: UserStatus) -> (&'static str, &'static str) {
    match kind {
        TenantKind::Auth0 => ("unauthorized", "user is blocked"),
        TenantKind::Okta => (
            "access_denied",
            match status {
                UserStatus::Suspended => "The user is suspended and cannot sign in.",
                UserStatus::LockedOut => "The user is locked out and cannot sign in.",
                _ => "The user is not active and cannot sign in.",
            },
        ),
        TenantKind::Clerk => ("access_denied", "The user is not allowed to sign in."),
        TenantKind::Oidc => ("access_denied", "The user account is disabled."),
    }
}

/// `GET` authorize: validates the client and `redirect_uri` (errors shown, not redirected),
/// then everything else (errors redirected), then answers for the signed-in user.
pub(super) fn authorize(
    st: &SimState,
    t: &mut Tenant,
    r: &Req,
    now: i64,
    server: Option<String>,
) -> Response {
    let kind = t.kind;
    if !known_server(t, server.as_deref()) {
        return not_found(kind, "authorization server");
    }
    let Some(client) = r.q("client_id").and_then(|id| t.oidc_clients.get(id)) else {
        return error_page(
            kind,
            "invalid_client",
            "The 'client_id' parameter is missing or is not a registered client.",
        );
    };
    let Some(uri) = r
        .q("redirect_uri")
        .filter(|u| client.redirect_uris.iter().any(|x| x == u))
    else {
        let msg = match kind {
            TenantKind::Auth0 => {
                "Callback URL mismatch: the redirect_uri is not in the list of Allowed Callback URLs."
            }
            _ => {
                "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings."
            }
        };
        return error_page(kind, "invalid_request", msg);
    };
    let client_id = client.client_id.clone();
    let issuer = st.issuer(&t.name, kind, server.as_deref());
    let state = r.q("state");
    let fail = |error: &str, description: &str| {
        error_redirect(kind, &issuer, uri, state, error, description)
    };
    if r.q("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "The response type is not supported by the authorization server: use response_type=code.",
        );
    }
    let scope = r.q("scope").unwrap_or("");
    if !scope.split(' ').any(|s| s == "openid") {
        return fail(
            "invalid_scope",
            "The 'scope' parameter must contain 'openid' for a sign-in request.",
        );
    }
    match r.q("code_challenge_method") {
        Some("S256") => {}
        None if r.q("code_challenge").is_none() => {}
        other => {
            let got = other.unwrap_or("plain (the default when code_challenge_method is absent)");
            return fail(
                "invalid_request",
                &format!("'code_challenge_method' is invalid: got {got}, must be 'S256'."),
            );
        }
    }
    let Some(challenge) = r.q("code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: send 'code_challenge' and 'code_challenge_method=S256'.",
        );
    };
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return fail(
            "invalid_request",
            "The 'code_challenge' must be the base64url SHA-256 of the verifier (43 characters).",
        );
    }
    let user = t.login.as_deref().and_then(|id| t.dir.user(id)).cloned();
    let Some(user) = user else {
        if r.q("prompt") == Some("none") {
            return fail(
                "login_required",
                "The client specified not to prompt, but the user is not logged in.",
            );
        }
        return html(
            StatusCode::OK,
            "<!DOCTYPE html><html><head><title>Sign in</title></head><body>\
             <p>idp-sim login page: nobody is signed in. Choose a user with \
             IdpSim::set_login or PUT /_control/tenants/{t}/login, then retry.</p></body></html>"
                .to_string(),
        );
    };
    if user.status != UserStatus::Active {
        let (error, description) = refusal(kind, user.status);
        return fail(error, description);
    }
    let code = URL_SAFE_NO_PAD.encode(random_token(24));
    t.codes.insert(
        code.clone(),
        AuthCode {
            client_id,
            redirect_uri: uri.to_string(),
            user_id: user.id,
            scope: scope.to_string(),
            nonce: r.q("nonce").map(str::to_string),
            code_challenge: challenge.to_string(),
            auth_server: server,
            audience: r.q("audience").map(str::to_string),
            auth_time: now,
            expires_s: now + CODE_TTL_S,
            redeemed: false,
        },
    );
    t.counters.codes_issued += 1;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = state {
        params.push(("state", s));
    }
    if sends_iss(kind) {
        params.push(("iss", issuer.as_str()));
    }
    redirect(uri, &params)
}

/// Why a token request was refused; each provider renders it with its own status and text.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    NoClientAuth,
    BadClientAuth,
    MultipleClientAuth,
    UnsupportedGrant,
    MissingCode,
    BadCode,
    RedirectMismatch,
    MissingVerifier,
    BadVerifier,
}

fn token_error(kind: TenantKind, why: Refusal) -> Response {
    use Refusal as R;
    let (status, error, description) = match (kind, why) {
        (TenantKind::Auth0, R::NoClientAuth | R::BadClientAuth) => {
            (401, "access_denied", "Unauthorized")
        }
        (TenantKind::Auth0, R::BadCode) => (403, "invalid_grant", "Invalid authorization code"),
        (TenantKind::Auth0, R::RedirectMismatch) => (
            403,
            "invalid_grant",
            "The redirect_uri does not match the one of the authorization request.",
        ),
        (TenantKind::Auth0, R::BadVerifier | R::MissingVerifier) => {
            (403, "invalid_grant", "Failed to verify code verifier")
        }
        (TenantKind::Auth0, R::UnsupportedGrant) => {
            (403, "unsupported_grant_type", "Unsupported grant type")
        }
        (_, R::NoClientAuth) => (
            401,
            "invalid_client",
            "No client credentials found: send client_id and client_secret by the registered method.",
        ),
        (_, R::BadClientAuth) => (
            401,
            "invalid_client",
            "Client authentication failed. Either the client or the client credentials are invalid.",
        ),
        (_, R::MultipleClientAuth) => (
            400,
            "invalid_request",
            "Cannot supply multiple client credentials: use the Authorization header or the body, not both.",
        ),
        (_, R::UnsupportedGrant) => (
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ),
        (_, R::MissingCode) => (400, "invalid_request", "The 'code' parameter is required."),
        (_, R::BadCode) => (
            400,
            "invalid_grant",
            "The authorization code is invalid or has expired.",
        ),
        (_, R::RedirectMismatch) => (
            400,
            "invalid_grant",
            "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
        ),
        (_, R::MissingVerifier) => (
            400,
            "invalid_request",
            "The 'code_verifier' parameter is required: the authorize request sent a code_challenge.",
        ),
        (_, R::BadVerifier) => (400, "invalid_grant", "PKCE verification failed."),
    };
    let mut resp = oauth_error(status, error, description);
    no_store(&mut resp);
    resp
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Client credentials as presented: from `Authorization: Basic` (each half form-urlencoded,
/// RFC 6749 §2.3.1) or from the body.
fn presented_client(
    r: &Req,
    form: &[(String, String)],
) -> Result<(ClientAuthMethod, String, String), Refusal> {
    let basic = r
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let body_secret = field(form, "client_secret");
    match (basic, body_secret) {
        (Some(_), Some(_)) => Err(Refusal::MultipleClientAuth),
        (Some(b), None) => {
            let decoded = STANDARD
                .decode(b.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or(Refusal::BadClientAuth)?;
            let (id, secret) = decoded.split_once(':').ok_or(Refusal::BadClientAuth)?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            let id = dec(id);
            if field(form, "client_id").is_some_and(|f| f != id) {
                return Err(Refusal::BadClientAuth);
            }
            Ok((ClientAuthMethod::ClientSecretBasic, id, dec(secret)))
        }
        (None, Some(secret)) => {
            let id = field(form, "client_id").ok_or(Refusal::NoClientAuth)?;
            Ok((
                ClientAuthMethod::ClientSecretPost,
                id.to_string(),
                secret.to_string(),
            ))
        }
        (None, None) => Err(Refusal::NoClientAuth),
    }
}

fn authenticate(t: &Tenant, r: &Req, form: &[(String, String)]) -> Result<OidcClient, Refusal> {
    let (method, id, secret) = presented_client(r, form)?;
    let client = t.oidc_clients.get(&id).ok_or(Refusal::BadClientAuth)?;
    let secret_ok = aws_lc_rs::constant_time::verify_slices_are_equal(
        secret.as_bytes(),
        client.client_secret.as_bytes(),
    )
    .is_ok();
    if client.auth_method != method || !secret_ok {
        return Err(Refusal::BadClientAuth);
    }
    Ok(client.clone())
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// `at_hash`: base64url of the left half of SHA-256 of the access token (OIDC Core §3.1.3.6).
fn at_hash(access_token: &str) -> String {
    let d = sha256(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(d.get(..16).unwrap_or_default())
}

/// RFC 7636 S256: `BASE64URL(SHA256(code_verifier)) == code_challenge`; the verifier must be
/// 43–128 unreserved characters.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())) == challenge
}

/// Lifetimes (seconds) of the ID token and the access token, per provider.
fn lifetimes(kind: TenantKind) -> (i64, i64) {
    match kind {
        TenantKind::Auth0 => (36_000, 86_400),
        TenantKind::Clerk => (3600, 86_400),
        TenantKind::Okta | TenantKind::Oidc => (3600, 3600),
    }
}

/// `POST` token, `grant_type=authorization_code`.
pub(super) fn token(
    st: &SimState,
    t: &mut Tenant,
    r: &Req,
    now: i64,
    server: Option<String>,
) -> Response {
    if !known_server(t, server.as_deref()) {
        return not_found(t.kind, "authorization server");
    }
    let form = r.form();
    if field(&form, "grant_type") != Some("authorization_code") {
        return token_error(t.kind, Refusal::UnsupportedGrant);
    }
    match redeem(st, t, &form, r, now, server) {
        Ok(body) => {
            let mut resp = json_response(StatusCode::OK, &body);
            no_store(&mut resp);
            resp
        }
        Err(why) => token_error(t.kind, why),
    }
}

fn redeem(
    st: &SimState,
    t: &mut Tenant,
    form: &[(String, String)],
    r: &Req,
    now: i64,
    server: Option<String>,
) -> Result<Value, Refusal> {
    let client = authenticate(t, r, form)?;
    let code_value = field(form, "code").ok_or(Refusal::MissingCode)?;
    let code = t.codes.get_mut(code_value).ok_or(Refusal::BadCode)?;
    if code.client_id != client.client_id || code.auth_server != server {
        return Err(Refusal::BadCode);
    }
    // One attempt per code: a failed exchange (wrong verifier, wrong redirect_uri) burns it too.
    if code.redeemed || now > code.expires_s {
        return Err(Refusal::BadCode);
    }
    code.redeemed = true;
    let code = code.clone();
    if field(form, "redirect_uri") != Some(code.redirect_uri.as_str()) {
        return Err(Refusal::RedirectMismatch);
    }
    let verifier = field(form, "code_verifier").ok_or(Refusal::MissingVerifier)?;
    if !pkce_matches(verifier, &code.code_challenge) {
        return Err(Refusal::BadVerifier);
    }
    let user = t.dir.user(&code.user_id).cloned().ok_or(Refusal::BadCode)?;
    t.counters.codes_redeemed += 1;
    issue(st, t, &client, &code, &user, now).map_err(|_| Refusal::BadCode)
}

/// Names of the user's groups, for the tenant's configured groups claim.
fn group_names(t: &Tenant, user_id: &str) -> Vec<String> {
    t.dir
        .user_memberships(user_id)
        .iter()
        .filter_map(|seq| t.dir.membership(*seq))
        .filter_map(|m| t.dir.group(&m.group_id))
        .map(|g| g.name.clone())
        .collect()
}

/// Mints the access token, the ID token and (with `offline_access`) a refresh token.
fn issue(
    st: &SimState,
    t: &mut Tenant,
    client: &OidcClient,
    code: &AuthCode,
    user: &User,
    now: i64,
) -> Result<Value, crate::error::SimError> {
    let kind = t.kind;
    let (id_ttl, access_ttl) = lifetimes(kind);
    let scopes: Vec<&str> = code.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let has = |s: &str| scopes.contains(&s);
    let base = st.tenant_base(&t.name);
    let issuer = st.issuer(&t.name, kind, code.auth_server.as_deref());
    let access_token = match (kind, &code.audience) {
        (TenantKind::Okta, _) => {
            let aud = if code.auth_server.is_some() {
                json!("api://default")
            } else {
                json!(issuer)
            };
            let spec = TokenSpec {
                auth_server: code.auth_server.clone(),
                expires_in: Some(access_ttl),
                ..TokenSpec::new(&user.email, aud)
            }
            .claim("ver", json!(1))
            .claim("jti", json!(format!("AT.{}", random_token(16))))
            .claim("cid", json!(client.client_id))
            .claim("uid", json!(user.id))
            .claim("scp", json!(scopes))
            .claim("auth_time", json!(code.auth_time));
            st.mint_locked(t, &spec, now)?
        }
        (TenantKind::Auth0, Some(api)) => {
            let spec = TokenSpec {
                expires_in: Some(access_ttl),
                ..TokenSpec::new(&user.id, json!([api, format!("{base}/userinfo")]))
            }
            .claim("azp", json!(client.client_id))
            .claim("scope", json!(code.scope));
            st.mint_locked(t, &spec, now)?
        }
        (TenantKind::Oidc, _) => {
            let spec = TokenSpec {
                expires_in: Some(access_ttl),
                ..TokenSpec::new(&user.id, json!(client.client_id))
            }
            .claim("client_id", json!(client.client_id))
            .claim("scope", json!(code.scope));
            st.mint_locked(t, &spec, now)?
        }
        // Auth0 without an API audience and Clerk hand out opaque access tokens.
        (TenantKind::Auth0 | TenantKind::Clerk, _) => random_token(24),
    };
    let mut claims = Map::new();
    let mut put = |k: &str, v: Value| {
        claims.insert(k.to_string(), v);
    };
    put("sub", json!(user.id));
    put("aud", json!(client.client_id));
    put("auth_time", json!(code.auth_time));
    if let Some(n) = &code.nonce {
        put("nonce", json!(n));
    }
    let name = format!("{} {}", user.first_name, user.last_name);
    if has("email") {
        put("email", json!(user.email));
        put("email_verified", json!(true));
    }
    match kind {
        TenantKind::Okta => {
            put("ver", json!(1));
            put("jti", json!(format!("ID.{}", random_token(16))));
            put("amr", json!(["pwd"]));
            let org = URL_SAFE_NO_PAD.encode(sha256(t.name.as_bytes()));
            put("idp", json!(format!("00o{}", org.get(..17).unwrap_or(""))));
            put("at_hash", json!(at_hash(&access_token)));
            if has("profile") {
                put("name", json!(name));
                put("preferred_username", json!(user.email));
                put("given_name", json!(user.first_name));
                put("family_name", json!(user.last_name));
                put("updated_at", json!(user.updated_ms.div_euclid(1000)));
            }
        }
        TenantKind::Auth0 => {
            put("jti", Value::Null);
            put("sid", json!(random_token(16)));
            if has("profile") {
                let nickname = user.email.split('@').next().unwrap_or("").to_string();
                put("nickname", json!(nickname));
                put("name", json!(name));
                put("given_name", json!(user.first_name));
                put("family_name", json!(user.last_name));
                put(
                    "picture",
                    json!(format!(
                        "https://cdn.auth0.com/avatars/{}.png",
                        nickname.get(..2).unwrap_or("u")
                    )),
                );
                put("updated_at", json!(iso_ms(user.updated_ms)));
            }
        }
        TenantKind::Clerk => {
            // `mint` shapes Clerk session tokens (`v`, `nbf`); an OAuth ID token has neither.
            put("v", Value::Null);
            put("nbf", Value::Null);
            put("jti", Value::Null);
            if has("profile") {
                put("name", json!(name));
                put("given_name", json!(user.first_name));
                put("family_name", json!(user.last_name));
            }
        }
        TenantKind::Oidc => {
            put("at_hash", json!(at_hash(&access_token)));
            if has("profile") {
                put("name", json!(name));
                put("given_name", json!(user.first_name));
                put("family_name", json!(user.last_name));
            }
        }
    }
    if let Some(claim) = t.options.id_token_groups_claim.clone() {
        claims.insert(claim, json!(group_names(t, &user.id)));
    }
    if let Some((over, left)) = t.faults.id_token_claims.take() {
        claims.extend(over.clone());
        if left > 1 {
            t.faults.id_token_claims = Some((over, left - 1));
        }
    }
    let spec = TokenSpec {
        claims,
        auth_server: code.auth_server.clone(),
        expires_in: Some(id_ttl),
        ..TokenSpec::default()
    };
    let id_token = st.mint_locked(t, &spec, now)?;
    t.id_tokens.insert(
        id_token.clone(),
        IssuedIdToken {
            client_id: client.client_id.clone(),
            auth_server: code.auth_server.clone(),
        },
    );
    let mut body = json!({
        "access_token": access_token,
        "id_token": id_token,
        "token_type": "Bearer",
        "expires_in": access_ttl,
        "scope": code.scope,
    });
    if has("offline_access") {
        body["refresh_token"] = json!(URL_SAFE_NO_PAD.encode(random_token(24)));
    }
    Ok(body)
}

/// `GET` end session (RP-initiated logout): ends the provider session (the test-chosen login)
/// and redirects to a registered `post_logout_redirect_uri` with `state`.
pub(super) fn logout(t: &mut Tenant, r: &Req, server: Option<String>) -> Response {
    let kind = t.kind;
    if !known_server(t, server.as_deref()) {
        return not_found(kind, "authorization server");
    }
    let hint = match r.q("id_token_hint") {
        Some(h) => match t.id_tokens.get(h) {
            Some(issued) if issued.auth_server == server => Some(issued.client_id.clone()),
            _ => {
                return error_page(
                    kind,
                    "invalid_request",
                    "The 'id_token_hint' parameter is not an ID token issued by this authorization server.",
                );
            }
        },
        None => None,
    };
    let asked = r.q("client_id");
    let client_id = match (kind, hint, asked) {
        (_, Some(h), Some(a)) if h != a => {
            return error_page(
                kind,
                "invalid_request",
                "The 'client_id' does not match the audience of the 'id_token_hint'.",
            );
        }
        (_, Some(h), _) => h,
        // Okta requires the hint; Auth0 and plain OIDC accept `client_id` instead.
        (TenantKind::Okta, None, _) | (_, None, None) => {
            return error_page(
                kind,
                "invalid_request",
                "The 'id_token_hint' parameter is required (or 'client_id' where the provider accepts it).",
            );
        }
        (_, None, Some(a)) => a.to_string(),
    };
    let Some(client) = t.oidc_clients.get(&client_id) else {
        return error_page(kind, "invalid_client", "The client is not registered.");
    };
    let target = match r.q("post_logout_redirect_uri") {
        Some(u) if client.post_logout_redirect_uris.iter().any(|x| x == u) => Some(u.to_string()),
        Some(_) => {
            return error_page(
                kind,
                "invalid_request",
                "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI in the client app settings.",
            );
        }
        // Auth0 falls back to the application's first Allowed Logout URL.
        None if kind == TenantKind::Auth0 => client.post_logout_redirect_uris.first().cloned(),
        None => None,
    };
    t.login = None;
    match target {
        Some(u) => {
            let params: Vec<(&str, &str)> =
                r.q("state").map(|s| ("state", s)).into_iter().collect();
            redirect(&u, &params)
        }
        None => html(
            StatusCode::OK,
            "<!DOCTYPE html><html><body><p>You have been signed out.</p></body></html>".into(),
        ),
    }
}
