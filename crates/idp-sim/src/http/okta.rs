//! Okta: `private_key_jwt` client-credentials token endpoint (assertion verified against the
//! app's registered public keys), and `/api/v1/users`, `/api/v1/groups`, group members with
//! `Link: rel="next"` opaque cursors (absent on the last page); DEPROVISIONED hidden unless a
//! filter/search asks for them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{Req, field, json_response, not_found, oauth_error, page_fault, provider_error, q_u64};
use crate::clock::{iso_ms, parse_iso_ms};
use crate::model::{IssuedToken, Tenant, TenantKind, User, UserStatus};
use crate::state::{SimState, TokenSpec};

const K: TenantKind = TenantKind::Okta;
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn invalid_client(why: &str) -> Response {
    oauth_error(401, "invalid_client", why)
}

pub(super) fn token(st: &SimState, t: &mut Tenant, r: &Req, now: i64) -> Response {
    let form = r.form();
    if field(&form, "grant_type") != Some("client_credentials") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    if field(&form, "client_assertion_type") != Some(ASSERTION_TYPE) {
        return oauth_error(
            400,
            "invalid_request",
            "The client_assertion_type is invalid.",
        );
    }
    let Some(assertion) = field(&form, "client_assertion") else {
        return invalid_client("Client authentication failed: client_assertion is missing.");
    };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return invalid_client("The client_assertion token is malformed.");
    };
    let claims: Value = assertion
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    if iss != sub || iss.is_empty() {
        return invalid_client(
            "The client_assertion token must have iss and sub equal to the client_id.",
        );
    }
    if let Some(cid) = field(&form, "client_id")
        && cid != iss
    {
        return invalid_client("The client_id does not match the client_assertion iss.");
    }
    let Some(app) = t.okta_apps.get(iss).cloned() else {
        return invalid_client("The client_id is invalid.");
    };
    use jsonwebtoken::Algorithm as A;
    if !matches!(
        header.alg,
        A::RS256 | A::RS384 | A::RS512 | A::ES256 | A::ES384
    ) {
        return invalid_client("The client_assertion signature algorithm is not supported.");
    }
    let jwk = match &header.kid {
        Some(kid) => app
            .public_jwks
            .iter()
            .find(|j| j.get("kid").and_then(Value::as_str) == Some(kid)),
        None if app.public_jwks.len() == 1 => app.public_jwks.first(),
        None => None,
    };
    let Some(jwk) =
        jwk.and_then(|j| serde_json::from_value::<jsonwebtoken::jwk::Jwk>(j.clone()).ok())
    else {
        return invalid_client("The client_assertion kid does not match a registered key.");
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(&jwk) else {
        return invalid_client("The registered key cannot be used.");
    };
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    if jsonwebtoken::decode::<Value>(assertion, &key, &validation).is_err() {
        return invalid_client("The client_assertion signature is invalid.");
    }
    let token_url = format!("{}/oauth2/v1/token", st.tenant_base(&t.name));
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == token_url,
        Some(Value::Array(a)) => {
            a.len() == 1 && a.first().and_then(Value::as_str) == Some(token_url.as_str())
        }
        _ => false,
    };
    if !aud_ok {
        return invalid_client(&format!(
            "The audience claim must be the token endpoint {token_url}."
        ));
    }
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return invalid_client("The client_assertion token is missing exp.");
    };
    if exp <= now {
        return invalid_client("The client_assertion token is expired.");
    }
    if exp > now + 3600 {
        return invalid_client(
            "The client_assertion token has an expiration too far in the future.",
        );
    }
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_some_and(|iat| iat > now + 5)
    {
        return invalid_client("The client_assertion token was issued in the future.");
    }
    let replay_key = claims
        .get("jti")
        .and_then(Value::as_str)
        .map_or_else(|| assertion.to_string(), str::to_string);
    if !t.used_jtis.insert(format!("{iss}:{replay_key}")) {
        return invalid_client("The client_assertion token has already been used (jti replay).");
    }
    let requested: Vec<String> = field(&form, "scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if requested.is_empty() {
        return oauth_error(
            400,
            "invalid_scope",
            "The authorization server resource does not have any configured default scopes, 'scope' must be provided.",
        );
    }
    if requested.iter().any(|s| !app.scopes.contains(s)) {
        return oauth_error(
            400,
            "invalid_scope",
            "One or more scopes are not configured for the authorization server resource.",
        );
    }
    let base = st.tenant_base(&t.name);
    let spec = TokenSpec::new(iss, json!(base))
        .claim("cid", json!(iss))
        .claim("scp", json!(requested))
        .claim("ver", json!(1));
    let tok = match st.mint_locked(t, &spec, now) {
        Ok(x) => x,
        Err(e) => return oauth_error(500, "server_error", &e.to_string()),
    };
    t.tokens.insert(
        tok.clone(),
        IssuedToken {
            client_id: iss.to_string(),
            scopes: requested.clone(),
            exp_s: now + 3600,
        },
    );
    json_response(
        StatusCode::OK,
        &json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": tok, "scope": requested.join(" ") }),
    )
}

pub(crate) fn user_json(base: &str, u: &User) -> Value {
    let status = u.status.okta();
    let activated = (status != "STAGED").then(|| iso_ms(u.created_ms));
    let status_changed = (u.updated_ms != u.created_ms).then(|| iso_ms(u.updated_ms));
    json!({
        "id": u.id, "status": status, "created": iso_ms(u.created_ms), "activated": activated,
        "statusChanged": status_changed, "lastLogin": null, "lastUpdated": iso_ms(u.updated_ms),
        "passwordChanged": null,
        "type": { "id": "oty00000000000000000" },
        "profile": { "login": u.email, "email": u.email, "firstName": u.first_name, "lastName": u.last_name,
                     "secondEmail": null, "mobilePhone": null },
        "credentials": {
            "password": {},
            "emails": [{ "value": u.email, "status": "VERIFIED", "type": "PRIMARY" }],
            "provider": { "type": "OKTA", "name": "OKTA" },
        },
        "_links": { "self": { "href": format!("{base}/api/v1/users/{}", u.id) } },
    })
}

fn group_json(base: &str, g: &crate::model::Group) -> Value {
    let href = format!("{base}/api/v1/groups/{}", g.id);
    json!({
        "id": g.id, "created": iso_ms(g.created_ms), "lastUpdated": iso_ms(g.created_ms),
        "lastMembershipUpdated": iso_ms(g.updated_ms), "objectClass": ["okta:user_group"], "type": "OKTA_GROUP",
        "profile": { "name": g.name, "description": g.description },
        "_links": {
            "logo": [
                { "name": "medium", "href": "https://ok12static.oktacdn.com/assets/img/logos/groups/okta-medium.png", "type": "image/png" },
                { "name": "large", "href": "https://ok12static.oktacdn.com/assets/img/logos/groups/okta-large.png", "type": "image/png" },
            ],
            "users": { "href": format!("{href}/users") },
            "apps": { "href": format!("{href}/apps") },
        },
    })
}

type Pred = Box<dyn Fn(&User) -> bool>;

/// `attr op "value"` terms joined by `and` / `or` (no nesting; parentheses ignored).
fn parse_filter(expr: &str) -> Option<Pred> {
    let clean = expr.replace(['(', ')'], "");
    let mut ors: Vec<Vec<Pred>> = Vec::new();
    for or_part in clean.split(" or ") {
        let mut ands: Vec<Pred> = Vec::new();
        for term in or_part.split(" and ") {
            let mut it = term.trim().splitn(3, ' ');
            let (attr, op, val) = (it.next()?, it.next()?, it.next()?);
            let val = val.trim().strip_prefix('"')?.strip_suffix('"')?.to_string();
            let op = op.to_string();
            let cmp = move |x: &str, v: &str| -> bool {
                match op.as_str() {
                    "eq" => x == v,
                    "gt" => x > v,
                    "ge" => x >= v,
                    "lt" => x < v,
                    "le" => x <= v,
                    _ => false,
                }
            };
            let pred: Pred = match attr {
                "status" => Box::new(move |u: &User| cmp(u.status.okta(), &val)),
                "id" => Box::new(move |u: &User| cmp(&u.id, &val)),
                "profile.login" | "profile.email" => Box::new(move |u: &User| cmp(&u.email, &val)),
                "profile.firstName" => Box::new(move |u: &User| cmp(&u.first_name, &val)),
                "profile.lastName" => Box::new(move |u: &User| cmp(&u.last_name, &val)),
                "lastUpdated" => {
                    let ms = parse_iso_ms(&val)?;
                    Box::new(move |u: &User| {
                        cmp(&format!("{:020}", u.updated_ms), &format!("{ms:020}"))
                    })
                }
                _ => return None,
            };
            ands.push(pred);
        }
        ors.push(ands);
    }
    Some(Box::new(move |u: &User| {
        ors.iter().any(|a| a.iter().all(|p| p(u)))
    }))
}

/// Opaque `after` cursor: the sequence number of the last row returned and the number of
/// the page it leads to (so `fail_page` can count pages of a cursor walk).
fn cursor(seq: u64, page: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{seq}.{page}"))
}

/// `(last seq, page number)` of the request's `after`, `(None, 0)` on a first page.
#[allow(
    clippy::result_large_err,
    reason = "the error is the ready HTTP answer"
)]
fn after(r: &Req) -> Result<(Option<u64>, u64), Response> {
    let Some(a) = r.q("after") else {
        return Ok((None, 0));
    };
    URL_SAFE_NO_PAD
        .decode(a)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (seq, page) = s.split_once('.')?;
            Some((Some(seq.parse().ok()?), page.parse().ok()?))
        })
        .ok_or_else(|| provider_error(K, 400, "E0000031", "Invalid after cursor."))
}

fn links(r: &Req, base: &str, path: &str, next: Option<(String, u64)>) -> Vec<HeaderValue> {
    let mut out = Vec::new();
    let self_q = if r.raw_query.is_empty() {
        String::new()
    } else {
        format!("?{}", r.raw_query)
    };
    if let Ok(v) = HeaderValue::from_str(&format!("<{base}{path}{self_q}>; rel=\"self\"")) {
        out.push(v);
    }
    if let Some((after, limit)) = next {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("after", &after)
            .append_pair("limit", &limit.to_string());
        for k in ["filter", "search"] {
            if let Some(v) = r.q(k) {
                q.append_pair(k, v);
            }
        }
        if let Ok(v) =
            HeaderValue::from_str(&format!("<{base}{path}?{}>; rel=\"next\"", q.finish()))
        {
            out.push(v);
        }
    }
    out
}

fn page_response(items: Vec<Value>, link_values: Vec<HeaderValue>) -> Response {
    let mut resp = json_response(StatusCode::OK, &Value::Array(items));
    for v in link_values {
        resp.headers_mut().append(header::LINK, v);
    }
    resp
}

#[allow(
    clippy::result_large_err,
    reason = "the error is the ready HTTP answer"
)]
fn limit(r: &Req, default: u64, max: u64) -> Result<u64, Response> {
    match q_u64(r, "limit") {
        Ok(v) => Ok(v.unwrap_or(default).clamp(1, max)),
        Err(e) => Err(provider_error(
            K,
            400,
            "E0000001",
            &format!("Api validation failed: {e}"),
        )),
    }
}

pub(super) fn api(st: &SimState, t: &mut Tenant, r: &Req, now: i64) -> Response {
    let tok = r
        .bearer()
        .and_then(|b| t.tokens.get(b))
        .filter(|x| x.exp_s > now)
        .cloned();
    let Some(tok) = tok else {
        return provider_error(K, 401, "E0000011", "Invalid token provided");
    };
    if !t
        .okta_apps
        .get(&tok.client_id)
        .is_some_and(|a| a.admin_role)
    {
        return provider_error(
            K,
            403,
            "E0000006",
            "You do not have permission to perform the requested action",
        );
    }
    let base = st.tenant_base(&t.name);
    let segs: Vec<&str> = r.rest.trim_start_matches("/api/v1/").split('/').collect();
    let needed = if segs.first() == Some(&"groups") {
        "okta.groups.read"
    } else {
        "okta.users.read"
    };
    if !tok.scopes.iter().any(|s| s == needed) {
        let mut resp = provider_error(
            K,
            403,
            "E0000006",
            "You do not have permission to perform the requested action",
        );
        let www = format!(
            "Bearer authorization_uri=\"{base}/oauth2/v1/authorize\", realm=\"IdpSim\", scope=\"{needed}\", error=\"insufficient_scope\", error_description=\"The access token provided does not contain the required scopes.\", resource=\"{}\"",
            r.rest
        );
        if let Ok(v) = HeaderValue::from_str(&www) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return resp;
    }
    if r.method != axum::http::Method::GET {
        return not_found(K, &r.rest);
    }
    match segs.as_slice() {
        ["users"] => list_users(t, r, &base),
        ["users", id] => match t.dir.user(id).or_else(|| t.dir.user_by_email(id)) {
            Some(u) => json_response(StatusCode::OK, &user_json(&base, u)),
            None => not_found(K, &format!("{id} (User)")),
        },
        ["groups"] => list_groups(t, r, &base),
        ["groups", id] => match t.dir.group(id) {
            Some(g) => json_response(StatusCode::OK, &group_json(&base, g)),
            None => not_found(K, &format!("{id} (UserGroup)")),
        },
        ["groups", id, "users"] => list_group_users(t, r, &base, id),
        _ => not_found(K, &r.rest),
    }
}

/// `GET /api/v1/users`: DEPROVISIONED users only when a `filter`/`search` asks; the scan
/// resumes at the cursor and stops one match past the page (to know whether `next` exists).
fn list_users(t: &mut Tenant, r: &Req, base: &str) -> Response {
    let lim = match limit(r, 200, 200) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let expr = r.q("filter").or(r.q("search"));
    let pred: Pred = match expr {
        Some(e) => match parse_filter(e) {
            Some(p) => p,
            None => return provider_error(K, 400, "E0000031", "Invalid search criteria."),
        },
        None => Box::new(|u: &User| u.status != UserStatus::Deprovisioned),
    };
    let (last, page_no) = match after(r) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Some(e) = page_fault(t, page_no) {
        return e;
    }
    let d = &t.dir;
    let start = last.map_or(0, |s| d.user_pos_after(s));
    let take = usize::try_from(lim).unwrap_or(200);
    let mut matching = d
        .users()
        .get(start..)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, u)| pred(u));
    let page: Vec<(usize, &User)> = matching.by_ref().take(take).collect();
    let more = matching.next().is_some();
    let next = page
        .last()
        .filter(|_| more)
        .and_then(|(i, _)| d.user_seq_at(start + i))
        .map(|seq| (cursor(seq, page_no + 1), lim));
    let items = page.iter().map(|(_, u)| user_json(base, u)).collect();
    page_response(items, links(r, base, "/api/v1/users", next))
}

fn list_groups(t: &mut Tenant, r: &Req, base: &str) -> Response {
    let lim = match limit(r, 10_000, 10_000) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let (last, page_no) = match after(r) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Some(e) = page_fault(t, page_no) {
        return e;
    }
    let d = &t.dir;
    let all = d.groups();
    let start = last.map_or(0, |s| d.group_pos_after(s)).min(all.len());
    let end = start
        .saturating_add(usize::try_from(lim).unwrap_or(10_000))
        .min(all.len());
    let next = (end < all.len())
        .then(|| d.group_seq_at(end - 1))
        .flatten()
        .map(|seq| (cursor(seq, page_no + 1), lim));
    let items = all
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|g| group_json(base, g))
        .collect();
    page_response(items, links(r, base, "/api/v1/groups", next))
}

fn list_group_users(t: &mut Tenant, r: &Req, base: &str, id: &str) -> Response {
    if t.dir.group(id).is_none() {
        return not_found(K, &format!("{id} (UserGroup)"));
    }
    let lim = match limit(r, 1000, 1000) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let (last, page_no) = match after(r) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Some(e) = page_fault(t, page_no) {
        return e;
    }
    let d = &t.dir;
    let seqs = d.group_members(id);
    let start = last.map_or(0, |s| seqs.partition_point(|x| *x <= s));
    let end = start
        .saturating_add(usize::try_from(lim).unwrap_or(1000))
        .min(seqs.len());
    let page = seqs.get(start..end).unwrap_or_default();
    let next = (end < seqs.len())
        .then(|| page.last())
        .flatten()
        .map(|seq| (cursor(*seq, page_no + 1), lim));
    let items = page
        .iter()
        .filter_map(|s| d.membership(*s))
        .filter_map(|m| d.user(&m.user_id))
        .map(|u| user_json(base, u))
        .collect();
    let path = format!("/api/v1/groups/{id}/users");
    page_response(items, links(r, base, &path, next))
}
