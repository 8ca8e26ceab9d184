//! Clerk Backend API: secret-key auth (`pk_` refused), `/v1/users` as a bare array with
//! `/v1/users/count`, organizations and memberships in `{data,total_count}` envelopes.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Req, json_response, not_found, provider_error, q_u64};
use crate::model::{Group, Membership, Tenant, TenantKind, User, UserStatus};
use crate::state::SimState;

const K: TenantKind = TenantKind::Clerk;

pub(crate) fn user_json(u: &User) -> Value {
    let suffix = u.id.trim_start_matches("user_");
    let email_id = format!("idn_{suffix}");
    json!({
        "object": "user", "id": u.id, "first_name": u.first_name, "last_name": u.last_name,
        "username": null, "image_url": "https://img.clerk.com/idp-sim", "has_image": false,
        "primary_email_address_id": email_id, "primary_phone_number_id": null,
        "email_addresses": [{ "object": "email_address", "id": email_id, "email_address": u.email,
            "reserved": false, "verification": { "status": "verified", "strategy": "email_code" },
            "linked_to": [] }],
        "phone_numbers": [], "web3_wallets": [], "external_accounts": [], "saml_accounts": [],
        "banned": u.status == UserStatus::Banned, "locked": u.status == UserStatus::LockedOut,
        "lockout_expires_in_seconds": null, "external_id": null,
        "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
        "last_sign_in_at": null, "last_active_at": null,
        "created_at": u.created_ms, "updated_at": u.updated_ms,
    })
}

pub(crate) fn org_json(g: &Group, members: usize) -> Value {
    json!({
        "object": "organization", "id": g.id, "name": g.name, "slug": g.slug,
        "members_count": members, "max_allowed_memberships": 0, "admin_delete_enabled": true,
        "public_metadata": {}, "private_metadata": {}, "created_by": null,
        "created_at": g.created_ms, "updated_at": g.updated_ms,
    })
}

pub(crate) fn membership_json(t: &Tenant, m: &Membership) -> Value {
    let org = t
        .group(&m.group_id)
        .map(|g| org_json(g, t.members_of(&g.id).len()))
        .unwrap_or(Value::Null);
    let u = t.user(&m.user_id);
    json!({
        "object": "organization_membership", "id": m.id, "role": m.role,
        "role_name": if m.role == "org:admin" { "Admin" } else { "Member" },
        "permissions": [], "organization": org,
        "public_user_data": {
            "user_id": m.user_id, "identifier": u.map(|u| u.email.clone()),
            "first_name": u.map(|u| u.first_name.clone()), "last_name": u.map(|u| u.last_name.clone()),
            "image_url": "https://img.clerk.com/idp-sim", "has_image": false,
        },
        "public_metadata": {}, "private_metadata": {},
        "created_at": m.created_ms, "updated_at": m.created_ms,
    })
}

fn unprocessable(param: &str, msg: &str) -> Response {
    let body = json!({
        "errors": [{ "code": "form_param_value_invalid", "message": msg, "long_message": msg,
                     "meta": { "param_name": param } }],
        "clerk_trace_id": crate::state::random_token(16),
    });
    json_response(StatusCode::UNPROCESSABLE_ENTITY, &body)
}

#[allow(
    clippy::result_large_err,
    reason = "the error is the ready HTTP answer"
)]
fn paging(r: &Req) -> Result<(usize, usize), Response> {
    let limit = q_u64(r, "limit")
        .map_err(|e| unprocessable("limit", &e))?
        .unwrap_or(10);
    if !(1..=500).contains(&limit) {
        return Err(unprocessable("limit", "limit must be between 1 and 500"));
    }
    let offset = q_u64(r, "offset")
        .map_err(|e| unprocessable("offset", &e))?
        .unwrap_or(0);
    Ok((
        usize::try_from(limit).unwrap_or(10),
        usize::try_from(offset).unwrap_or(usize::MAX),
    ))
}

fn page_fault(t: &mut Tenant, limit: usize, offset: usize) -> Option<Response> {
    let page = u64::try_from(offset / limit.max(1)).unwrap_or(u64::MAX);
    t.take_page_fault(page).then(|| {
        provider_error(
            K,
            500,
            "internal_clerk_error",
            "Oops, an unexpected error occurred",
        )
    })
}

fn envelope(items: Vec<Value>, total: usize) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "data": items, "total_count": total }),
    )
}

pub(super) fn api(_st: &SimState, t: &mut Tenant, r: &Req, _now: i64) -> Response {
    match r.bearer() {
        None => {
            return provider_error(
                K,
                401,
                "authentication_invalid",
                "Request is not authenticated: send Authorization: Bearer sk_…",
            );
        }
        Some(k) if k.starts_with("pk_") => {
            return provider_error(
                K,
                401,
                "authentication_invalid",
                "Publishable keys (pk_…) cannot be used with the Backend API; use a secret key (sk_…)",
            );
        }
        Some(k) if !t.clerk_secret_keys.contains(k) => {
            return provider_error(
                K,
                401,
                "authentication_invalid",
                "The provided Clerk Secret Key is invalid.",
            );
        }
        Some(_) => {}
    }
    if r.method != axum::http::Method::GET {
        return not_found(K, &r.rest);
    }
    let segs: Vec<&str> = r.rest.trim_start_matches("/v1/").split('/').collect();
    match segs.as_slice() {
        ["jwks"] => json_response(StatusCode::OK, &t.keys.jwks()),
        ["users"] | ["users", "count"] => {
            let (limit, offset) = match paging(r) {
                Ok(p) => p,
                Err(e) => return e,
            };
            if segs.len() == 1
                && let Some(e) = page_fault(t, limit, offset)
            {
                return e;
            }
            let ids = r.q_all("user_id");
            let emails = r.q_all("email_address");
            let orgs = r.q_all("organization_id");
            let banned = r.q("banned").map(|b| b == "true");
            let query = r.q("query").map(str::to_lowercase);
            let mut rows: Vec<&User> = t
                .users
                .iter()
                .filter(|u| ids.is_empty() || ids.contains(&u.id.as_str()))
                .filter(|u| emails.is_empty() || emails.contains(&u.email.as_str()))
                .filter(|u| banned.is_none_or(|b| (u.status == UserStatus::Banned) == b))
                .filter(|u| {
                    query.as_ref().is_none_or(|q| {
                        u.email.to_lowercase().contains(q)
                            || u.first_name.to_lowercase().contains(q)
                            || u.last_name.to_lowercase().contains(q)
                    })
                })
                .filter(|u| {
                    orgs.is_empty()
                        || t.memberships
                            .iter()
                            .any(|m| m.user_id == u.id && orgs.contains(&m.group_id.as_str()))
                })
                .collect();
            if segs.len() == 2 {
                return json_response(
                    StatusCode::OK,
                    &json!({ "object": "total_count", "total_count": rows.len() }),
                );
            }
            match r.q("order_by").unwrap_or("-created_at") {
                "created_at" | "+created_at" => rows.sort_by_key(|u| (u.created_ms, u.id.clone())),
                "updated_at" | "+updated_at" => rows.sort_by_key(|u| (u.updated_ms, u.id.clone())),
                "-updated_at" => {
                    rows.sort_by_key(|u| std::cmp::Reverse((u.updated_ms, u.id.clone())))
                }
                _ => rows.sort_by_key(|u| std::cmp::Reverse((u.created_ms, u.id.clone()))),
            }
            let items: Vec<Value> = rows
                .iter()
                .skip(offset)
                .take(limit)
                .map(|u| user_json(u))
                .collect();
            json_response(StatusCode::OK, &Value::Array(items))
        }
        ["users", id] => match t.user(id) {
            Some(u) => json_response(StatusCode::OK, &user_json(u)),
            None => not_found(K, id),
        },
        ["users", id, "organization_memberships"] => {
            let (limit, offset) = match paging(r) {
                Ok(p) => p,
                Err(e) => return e,
            };
            let ms: Vec<&Membership> = t.memberships.iter().filter(|m| m.user_id == *id).collect();
            let items = ms
                .iter()
                .skip(offset)
                .take(limit)
                .map(|m| membership_json(t, m))
                .collect();
            envelope(items, ms.len())
        }
        ["organizations"] => {
            let (limit, offset) = match paging(r) {
                Ok(p) => p,
                Err(e) => return e,
            };
            if let Some(e) = page_fault(t, limit, offset) {
                return e;
            }
            let mut gs: Vec<&Group> = t.groups.iter().collect();
            gs.sort_by_key(|g| std::cmp::Reverse((g.created_ms, g.id.clone())));
            let items = gs
                .iter()
                .skip(offset)
                .take(limit)
                .map(|g| org_json(g, t.members_of(&g.id).len()))
                .collect();
            envelope(items, gs.len())
        }
        ["organizations", id] => match t.group(id) {
            Some(g) => json_response(StatusCode::OK, &org_json(g, t.members_of(id).len())),
            None => not_found(K, id),
        },
        ["organizations", id, "memberships"] => list_memberships(t, r, Some(id)),
        ["organization_memberships"] => list_memberships(t, r, None),
        _ => not_found(K, &r.rest),
    }
}

fn list_memberships(t: &mut Tenant, r: &Req, org: Option<&str>) -> Response {
    if let Some(o) = org
        && t.group(o).is_none()
    {
        return not_found(K, o);
    }
    let (limit, offset) = match paging(r) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Some(e) = page_fault(t, limit, offset) {
        return e;
    }
    let ms: Vec<&Membership> = t
        .memberships
        .iter()
        .filter(|m| org.is_none_or(|o| m.group_id == o))
        .collect();
    let items = ms
        .iter()
        .skip(offset)
        .take(limit)
        .map(|m| membership_json(t, m))
        .collect();
    envelope(items, ms.len())
}
