//! Clerk Backend API: secret-key auth (`pk_` refused), `/v1/users` as a bare array with
//! `/v1/users/count`, organizations and memberships in `{data,total_count}` envelopes. Objects
//! carry every field Clerk's API reference marks as always present (nulls included).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use std::collections::HashSet;

use super::{Req, json_response, not_found, page_fault, provider_error, q_u64};
use crate::directory::{Directory, UserOrder};
use crate::model::{Group, Membership, Tenant, TenantKind, User, UserStatus};
use crate::state::SimState;

const K: TenantKind = TenantKind::Clerk;

const IMAGE_URL: &str = "https://img.clerk.com/idp-sim";

/// The email's verification: an OTP (`email_code`) verified when the user was created.
fn email_verification(created_ms: i64) -> Value {
    json!({
        "object": "verification_otp", "status": "verified", "strategy": "email_code",
        "attempts": 1, "expire_at": created_ms + 600_000,
    })
}

pub(crate) fn user_json(u: &User) -> Value {
    let suffix = u.id.trim_start_matches("user_");
    let email_id = format!("idn_{suffix}");
    json!({
        "object": "user", "id": u.id, "external_id": null,
        "primary_email_address_id": email_id, "primary_phone_number_id": null,
        "primary_web3_wallet_id": null,
        "username": null, "first_name": u.first_name, "last_name": u.last_name,
        "image_url": IMAGE_URL, "profile_image_url": IMAGE_URL, "has_image": false,
        "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
        "email_addresses": [{
            "object": "email_address", "id": email_id, "email_address": u.email,
            "reserved": false, "verification": email_verification(u.created_ms),
            "linked_to": [], "matches_sso_connection": false,
            "created_at": u.created_ms, "updated_at": u.created_ms,
        }],
        "phone_numbers": [], "web3_wallets": [], "passkeys": [],
        "password_enabled": false, "password_last_updated_at": null,
        "two_factor_enabled": false, "totp_enabled": false, "backup_code_enabled": false,
        "mfa_enabled_at": null, "mfa_disabled_at": null,
        "external_accounts": [], "saml_accounts": [], "enterprise_accounts": [],
        "last_sign_in_at": null, "last_active_at": null, "legal_accepted_at": null,
        "banned": u.status == UserStatus::Banned, "locked": u.status == UserStatus::LockedOut,
        "lockout_expires_in_seconds": null, "verification_attempts_remaining": 100,
        "delete_self_enabled": true, "create_organization_enabled": true,
        "created_at": u.created_ms, "updated_at": u.updated_ms,
    })
}

pub(crate) fn org_json(g: &Group, members: usize) -> Value {
    json!({
        "object": "organization", "id": g.id, "name": g.name, "slug": g.slug,
        "image_url": IMAGE_URL, "has_image": false,
        "members_count": members, "pending_invitations_count": 0,
        "max_allowed_memberships": 0, "admin_delete_enabled": true,
        "public_metadata": {}, "private_metadata": {}, "created_by": "",
        "created_at": g.created_ms, "updated_at": g.updated_ms,
    })
}

pub(crate) fn membership_json(d: &Directory, m: &Membership) -> Value {
    let org = d
        .group(&m.group_id)
        .map(|g| org_json(g, d.member_count(&g.id)))
        .unwrap_or(Value::Null);
    let u = d.user(&m.user_id);
    json!({
        "object": "organization_membership", "id": m.id, "role": m.role,
        "role_name": if m.role == "org:admin" { "Admin" } else { "Member" },
        "permissions": [], "organization": org,
        "public_user_data": {
            "user_id": m.user_id, "identifier": u.map(|u| u.email.clone()),
            "first_name": u.map(|u| u.first_name.clone()), "last_name": u.map(|u| u.last_name.clone()),
            "image_url": IMAGE_URL, "profile_image_url": IMAGE_URL, "has_image": false,
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

fn page_no(limit: usize, offset: usize) -> u64 {
    u64::try_from(offset / limit.max(1)).unwrap_or(u64::MAX)
}

fn envelope(items: Vec<Value>, total: usize) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "data": items, "total_count": total }),
    )
}

/// Memberships with the given sequence numbers, rendered, `[offset, offset + limit)`.
fn membership_page(d: &Directory, seqs: &[u64], offset: usize, limit: usize) -> Vec<Value> {
    seqs.get(offset.min(seqs.len())..offset.saturating_add(limit).min(seqs.len()))
        .unwrap_or_default()
        .iter()
        .filter_map(|s| d.membership(*s))
        .map(|m| membership_json(d, m))
        .collect()
}

/// The `/v1/users` filters of a request.
struct UserFilter<'a> {
    ids: Vec<&'a str>,
    emails: Vec<&'a str>,
    orgs: Option<HashSet<&'a str>>,
    banned: Option<bool>,
    query: Option<String>,
}

impl<'a> UserFilter<'a> {
    fn parse(r: &'a Req, d: &'a Directory) -> Self {
        let orgs = r.q_all("organization_id");
        let members = (!orgs.is_empty()).then(|| {
            orgs.iter()
                .flat_map(|o| d.group_members(o))
                .filter_map(|s| d.membership(*s))
                .map(|m| m.user_id.as_str())
                .collect()
        });
        Self {
            ids: r.q_all("user_id"),
            emails: r.q_all("email_address"),
            orgs: members,
            banned: r.q("banned").map(|b| b == "true"),
            query: r.q("query").map(str::to_lowercase),
        }
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.emails.is_empty()
            && self.orgs.is_none()
            && self.banned.is_none()
            && self.query.is_none()
    }

    fn matches(&self, u: &User) -> bool {
        (self.ids.is_empty() || self.ids.contains(&u.id.as_str()))
            && (self.emails.is_empty() || self.emails.contains(&u.email.as_str()))
            && self.orgs.as_ref().is_none_or(|o| o.contains(u.id.as_str()))
            && self
                .banned
                .is_none_or(|b| (u.status == UserStatus::Banned) == b)
            && self.query.as_ref().is_none_or(|q| {
                u.email.to_lowercase().contains(q)
                    || u.first_name.to_lowercase().contains(q)
                    || u.last_name.to_lowercase().contains(q)
            })
    }
}

fn list_users(t: &mut Tenant, r: &Req, count_only: bool) -> Response {
    let (limit, offset) = match paging(r) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if !count_only && let Some(e) = page_fault(t, page_no(limit, offset)) {
        return e;
    }
    let (order, desc) = match r.q("order_by").unwrap_or("-created_at") {
        "created_at" | "+created_at" => (UserOrder::Created, false),
        "updated_at" | "+updated_at" => (UserOrder::Updated, false),
        "-updated_at" => (UserOrder::Updated, true),
        _ => (UserOrder::Created, true),
    };
    let d = &mut t.dir;
    let unfiltered = UserFilter::parse(r, d).is_empty();
    if unfiltered {
        if count_only {
            let total = d.users().len();
            return json_response(
                StatusCode::OK,
                &json!({ "object": "total_count", "total_count": total }),
            );
        }
        let items: Vec<Value> = d
            .users_page(order, desc, offset, limit)
            .into_iter()
            .map(user_json)
            .collect();
        return json_response(StatusCode::OK, &Value::Array(items));
    }
    // Filtered listings scan the directory once.
    let d = &t.dir;
    let filter = UserFilter::parse(r, d);
    let mut rows: Vec<&User> = d.users().iter().collect();
    rows.retain(|u| filter.matches(u));
    if count_only {
        return json_response(
            StatusCode::OK,
            &json!({ "object": "total_count", "total_count": rows.len() }),
        );
    }
    let key = |u: &&User| match order {
        UserOrder::Updated => (u.updated_ms, u.id.clone()),
        _ => (u.created_ms, u.id.clone()),
    };
    rows.sort_by_key(key);
    if desc {
        rows.reverse();
    }
    let items: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|u| user_json(u))
        .collect();
    json_response(StatusCode::OK, &Value::Array(items))
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
        ["users"] => list_users(t, r, false),
        ["users", "count"] => list_users(t, r, true),
        ["users", id] => match t.dir.user(id) {
            Some(u) => json_response(StatusCode::OK, &user_json(u)),
            None => not_found(K, id),
        },
        ["users", id, "organization_memberships"] => {
            let (limit, offset) = match paging(r) {
                Ok(p) => p,
                Err(e) => return e,
            };
            if let Some(e) = page_fault(t, page_no(limit, offset)) {
                return e;
            }
            let d = &t.dir;
            let seqs = d.user_memberships(id);
            envelope(membership_page(d, seqs, offset, limit), seqs.len())
        }
        ["organizations"] => {
            let (limit, offset) = match paging(r) {
                Ok(p) => p,
                Err(e) => return e,
            };
            if let Some(e) = page_fault(t, page_no(limit, offset)) {
                return e;
            }
            let d = &mut t.dir;
            let total = d.groups().len();
            let page: Vec<Group> = d
                .groups_newest_first(offset, limit)
                .into_iter()
                .cloned()
                .collect();
            let items = page
                .iter()
                .map(|g| org_json(g, d.member_count(&g.id)))
                .collect();
            envelope(items, total)
        }
        ["organizations", id] => match t.dir.group(id) {
            Some(g) => json_response(StatusCode::OK, &org_json(g, t.dir.member_count(id))),
            None => not_found(K, id),
        },
        ["organizations", id, "memberships"] => list_memberships(t, r, Some(id)),
        ["organization_memberships"] => list_memberships(t, r, None),
        _ => not_found(K, &r.rest),
    }
}

fn list_memberships(t: &mut Tenant, r: &Req, org: Option<&str>) -> Response {
    if let Some(o) = org
        && t.dir.group(o).is_none()
    {
        return not_found(K, o);
    }
    let (limit, offset) = match paging(r) {
        Ok(p) => p,
        Err(e) => return e,
    };
    if let Some(e) = page_fault(t, page_no(limit, offset)) {
        return e;
    }
    let d = &t.dir;
    match org {
        Some(o) => {
            let seqs = d.group_members(o);
            envelope(membership_page(d, seqs, offset, limit), seqs.len())
        }
        None => {
            let all = d.memberships();
            let items = all
                .get(offset.min(all.len())..offset.saturating_add(limit).min(all.len()))
                .unwrap_or_default()
                .iter()
                .map(|m| membership_json(d, m))
                .collect();
            envelope(items, all.len())
        }
    }
}
