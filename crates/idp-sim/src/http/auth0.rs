//! Auth0: client-credentials `/oauth/token` and the Management API `/api/v2/users`
//! with page/per_page, `include_totals`, and the 1000-row ceiling.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Req, field, json_response, not_found, oauth_error, provider_error, q_u64};
use crate::clock::{iso_ms, parse_iso_ms};
use crate::model::{IssuedToken, Tenant, TenantKind, User, UserStatus};
use crate::state::{SimState, TokenSpec};

const K: TenantKind = TenantKind::Auth0;

pub(super) fn token(st: &SimState, t: &mut Tenant, r: &Req, now: i64) -> Response {
    let form = r.form();
    if field(&form, "grant_type") != Some("client_credentials") {
        return oauth_error(403, "unsupported_grant_type", "Unsupported grant type");
    }
    let id = field(&form, "client_id").unwrap_or("");
    let Some(client) = t.auth0_clients.get(id).cloned() else {
        return oauth_error(401, "access_denied", "Unauthorized");
    };
    if field(&form, "client_secret") != Some(client.client_secret.as_str()) {
        return oauth_error(401, "access_denied", "Unauthorized");
    }
    let audience = format!("{}/api/v2/", st.tenant_base(&t.name));
    let asked = field(&form, "audience").unwrap_or("");
    if asked != audience {
        return oauth_error(
            403,
            "access_denied",
            &format!("Service not enabled within domain: {asked}"),
        );
    }
    let scopes: Vec<String> = match field(&form, "scope") {
        Some(s) if !s.trim().is_empty() => s
            .split_whitespace()
            .filter(|x| client.scopes.iter().any(|g| g == x))
            .map(str::to_string)
            .collect(),
        _ => client.scopes.clone(),
    };
    let scope = scopes.join(" ");
    let spec = TokenSpec {
        expires_in: Some(86_400),
        ..TokenSpec::new(&format!("{id}@clients"), json!(audience))
    }
    .claim("azp", json!(id))
    .claim("scope", json!(scope))
    .claim("gty", json!("client-credentials"));
    let tok = match st.mint_locked(t, &spec, now) {
        Ok(x) => x,
        Err(e) => return oauth_error(500, "server_error", &e.to_string()),
    };
    t.tokens.insert(
        tok.clone(),
        IssuedToken {
            client_id: id.to_string(),
            scopes,
            exp_s: now + 86_400,
        },
    );
    json_response(
        StatusCode::OK,
        &json!({ "access_token": tok, "scope": scope, "expires_in": 86_400, "token_type": "Bearer" }),
    )
}

pub(super) fn user_json(u: &User) -> Value {
    let raw = u.id.split_once('|').map_or(u.id.as_str(), |(_, r)| r);
    let mut v = json!({
        "user_id": u.id, "email": u.email, "email_verified": true,
        "name": format!("{} {}", u.first_name, u.last_name), "nickname": u.first_name.to_lowercase(),
        "given_name": u.first_name, "family_name": u.last_name,
        "picture": "https://s.gravatar.com/avatar/idp-sim.png",
        "created_at": iso_ms(u.created_ms), "updated_at": iso_ms(u.updated_ms),
        "identities": [{ "connection": "Username-Password-Authentication", "provider": "auth0",
                         "user_id": raw, "isSocial": false }],
        "app_metadata": {}, "user_metadata": {},
    });
    if u.status == UserStatus::Blocked {
        v["blocked"] = json!(true);
    }
    v
}

/// Subset of Lucene used for partitioning: `created_at:[A TO B}`, `email:"x"`, `user_id:"x"`.
type Pred = Box<dyn Fn(&User) -> bool>;

fn parse_q(q: &str) -> Result<Vec<Pred>, String> {
    let mut preds: Vec<Pred> = Vec::new();
    for term in q.split(" AND ") {
        let (f, v) = term
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("cannot parse `{term}`"))?;
        let v = v.trim();
        if (v.starts_with('[') || v.starts_with('{')) && (v.ends_with(']') || v.ends_with('}')) {
            let lo_inc = v.starts_with('[');
            let hi_inc = v.ends_with(']');
            let inner = &v[1..v.len() - 1];
            let (a, b) = inner
                .split_once(" TO ")
                .ok_or_else(|| format!("bad range `{v}`"))?;
            let bound = |s: &str| -> Result<Option<i64>, String> {
                let s = s.trim().trim_matches('"');
                if s == "*" {
                    Ok(None)
                } else {
                    parse_iso_ms(s)
                        .map(Some)
                        .ok_or_else(|| format!("bad date `{s}`"))
                }
            };
            let (lo, hi) = (bound(a)?, bound(b)?);
            let field_name = f.to_string();
            if field_name != "created_at" && field_name != "updated_at" {
                return Err(format!("range on `{field_name}` unsupported"));
            }
            preds.push(Box::new(move |u: &User| {
                let x = if field_name == "created_at" {
                    u.created_ms
                } else {
                    u.updated_ms
                };
                lo.is_none_or(|l| if lo_inc { x >= l } else { x > l })
                    && hi.is_none_or(|h| if hi_inc { x <= h } else { x < h })
            }));
        } else {
            let val = v.trim_matches('"').to_string();
            match f {
                "email" => preds.push(Box::new(move |u: &User| u.email == val)),
                "user_id" => preds.push(Box::new(move |u: &User| u.id == val)),
                "blocked" => {
                    let b = val == "true";
                    preds.push(Box::new(move |u: &User| {
                        (u.status == UserStatus::Blocked) == b
                    }));
                }
                other => return Err(format!("field `{other}` unsupported")),
            }
        }
    }
    Ok(preds)
}

fn bad_query(msg: &str) -> Response {
    provider_error(
        K,
        400,
        "invalid_query_string",
        &format!("Query validation error: {msg}"),
    )
}

pub(super) fn api(_st: &SimState, t: &mut Tenant, r: &Req, now: i64) -> Response {
    let Some(bearer) = r.bearer() else {
        return provider_error(K, 401, "missing_authorization", "Missing authentication");
    };
    let Some(tok) = t.tokens.get(bearer).cloned() else {
        return provider_error(K, 401, "invalid_token", "Invalid token");
    };
    if tok.exp_s <= now {
        return provider_error(
            K,
            401,
            "token_expired",
            "Expired token received for JSON Web Token validation",
        );
    }
    let _ = tok.client_id;
    if r.method != axum::http::Method::GET || !r.rest.starts_with("/api/v2/users") {
        return not_found(K, &r.rest);
    }
    if !tok.scopes.iter().any(|s| s == "read:users") {
        return provider_error(
            K,
            403,
            "insufficient_scope",
            "Insufficient scope, expected any of: read:users",
        );
    }
    if let Some(id) = r.rest.strip_prefix("/api/v2/users/") {
        let id = url::form_urlencoded::parse(format!("x={id}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned());
        return match id.as_deref().and_then(|i| t.user(i)) {
            Some(u) => json_response(StatusCode::OK, &user_json(u)),
            None => provider_error(K, 404, "inexistent_user", "The user does not exist."),
        };
    }
    if r.rest != "/api/v2/users" {
        return not_found(K, &r.rest);
    }
    let (page, per_page) = match (q_u64(r, "page"), q_u64(r, "per_page")) {
        (Ok(p), Ok(pp)) => (p, pp.unwrap_or(50)),
        (Err(e), _) | (_, Err(e)) => return bad_query(&e),
    };
    if !(1..=100).contains(&per_page) {
        return bad_query(&format!(
            "Invalid value \"{per_page}\" for parameter \"per_page\" (must be 1-100)"
        ));
    }
    let preds = match r.q("q").map(parse_q).transpose() {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return bad_query(&e),
    };
    let (start, size) = match page {
        Some(p) => (p.saturating_mul(per_page), per_page),
        None => (0, per_page.min(50)),
    };
    if start.saturating_add(size) > 1000 {
        return provider_error(
            K,
            400,
            "invalid_paging",
            "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
        );
    }
    if t.take_page_fault(start / per_page) {
        return provider_error(
            K,
            500,
            "server_error",
            "Internal server error (page fault injected by idp-sim)",
        );
    }
    let mut rows: Vec<&User> = t
        .users
        .iter()
        .filter(|u| preds.iter().all(|p| p(u)))
        .collect();
    match r.q("sort") {
        Some("created_at:-1") => rows.sort_by_key(|u| std::cmp::Reverse(u.created_ms)),
        Some("created_at:1") => rows.sort_by_key(|u| u.created_ms),
        Some("updated_at:-1") => rows.sort_by_key(|u| std::cmp::Reverse(u.updated_ms)),
        Some("updated_at:1") => rows.sort_by_key(|u| u.updated_ms),
        _ => {}
    }
    let start_us = usize::try_from(start).unwrap_or(usize::MAX);
    let size_us = usize::try_from(size).unwrap_or(0);
    let users: Vec<Value> = rows
        .iter()
        .skip(start_us)
        .take(size_us)
        .map(|u| user_json(u))
        .collect();
    if r.q("include_totals") == Some("true") {
        json_response(
            StatusCode::OK,
            &json!({ "start": start, "limit": per_page, "length": users.len(), "total": rows.len().min(1000), "users": users }),
        )
    } else {
        json_response(StatusCode::OK, &Value::Array(users))
    }
}
