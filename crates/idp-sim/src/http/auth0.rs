//! Auth0: client-credentials `/oauth/token`; the Management API `/api/v2/users` with
//! page/per_page, `include_totals` and the 1000-row ceiling; users-export jobs
//! (`/api/v2/jobs/users-exports`, `/api/v2/jobs/{id}`) and their pre-signed download.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse as _;
use serde::Deserialize;

use super::{Req, field, json_response, not_found, oauth_error, page_fault, provider_error, q_u64};
use crate::clock::{iso_ms, parse_iso_ms};
use crate::directory::UserOrder;
use crate::exports::{ExportField, ExportFormat, ExportJob, JobState, MAX_FIELDS};
use crate::model::{
    AUTH0_CONNECTION_ID, AUTH0_CONNECTION_NAME, IssuedToken, Tenant, TenantKind, User, UserStatus,
};
use crate::state::{SimState, TokenSpec, random_token};

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
        "identities": [{ "connection": AUTH0_CONNECTION_NAME, "provider": "auth0",
                         "user_id": raw, "isSocial": false }],
        "app_metadata": {}, "user_metadata": {},
    });
    if u.status == UserStatus::Blocked {
        v["blocked"] = json!(true);
    }
    v
}

/// A time range of a Lucene term: `(ms, inclusive)` bounds, `None` = open.
type Range = (Option<(i64, bool)>, Option<(i64, bool)>);

/// The subset of Lucene used for partitioning: `created_at:[A TO B}`, `updated_at:…`,
/// `email:"x"`, `user_id:"x"`, `blocked:true`, joined by ` AND `.
#[derive(Default)]
struct UserQuery {
    created: Vec<Range>,
    updated: Vec<Range>,
    email: Option<String>,
    user_id: Option<String>,
    blocked: Option<bool>,
}

fn in_range(x: i64, (lo, hi): &Range) -> bool {
    lo.is_none_or(|(l, inc)| if inc { x >= l } else { x > l })
        && hi.is_none_or(|(h, inc)| if inc { x <= h } else { x < h })
}

impl UserQuery {
    fn parse(q: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for term in q.split(" AND ") {
            let (f, v) = term
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("cannot parse `{term}`"))?;
            let v = v.trim();
            if (v.starts_with('[') || v.starts_with('{')) && (v.ends_with(']') || v.ends_with('}'))
            {
                let lo_inc = v.starts_with('[');
                let hi_inc = v.ends_with(']');
                let inner = v.get(1..v.len() - 1).unwrap_or("");
                let (a, b) = inner
                    .split_once(" TO ")
                    .ok_or_else(|| format!("bad range `{v}`"))?;
                let bound = |s: &str, inc: bool| -> Result<Option<(i64, bool)>, String> {
                    let s = s.trim().trim_matches('"');
                    if s == "*" {
                        Ok(None)
                    } else {
                        parse_iso_ms(s)
                            .map(|ms| Some((ms, inc)))
                            .ok_or_else(|| format!("bad date `{s}`"))
                    }
                };
                let range = (bound(a, lo_inc)?, bound(b, hi_inc)?);
                match f {
                    "created_at" => out.created.push(range),
                    "updated_at" => out.updated.push(range),
                    other => return Err(format!("range on `{other}` unsupported")),
                }
            } else {
                let val = v.trim_matches('"').to_string();
                match f {
                    "email" => out.email = Some(val),
                    "user_id" => out.user_id = Some(val),
                    "blocked" => out.blocked = Some(val == "true"),
                    other => return Err(format!("field `{other}` unsupported")),
                }
            }
        }
        Ok(out)
    }

    fn matches(&self, u: &User) -> bool {
        self.created.iter().all(|r| in_range(u.created_ms, r))
            && self.updated.iter().all(|r| in_range(u.updated_ms, r))
            && self.email.as_ref().is_none_or(|e| *e == u.email)
            && self.user_id.as_ref().is_none_or(|i| *i == u.id)
            && self
                .blocked
                .is_none_or(|b| (u.status == UserStatus::Blocked) == b)
    }

    /// True when the only constraint is at most one range on the field `order` sorts by,
    /// so the page can be cut straight out of the sorted index.
    fn is_one_range_of(&self, order: UserOrder) -> bool {
        let plain = self.email.is_none() && self.user_id.is_none() && self.blocked.is_none();
        match order {
            UserOrder::Created => plain && self.updated.is_empty() && self.created.len() <= 1,
            UserOrder::Updated => plain && self.created.is_empty() && self.updated.len() <= 1,
            UserOrder::Inserted => plain && self.created.is_empty() && self.updated.is_empty(),
        }
    }
}

fn bad_query(msg: &str) -> Response {
    provider_error(
        K,
        400,
        "invalid_query_string",
        &format!("Query validation error: {msg}"),
    )
}

fn bad_body(msg: &str) -> Response {
    provider_error(
        K,
        400,
        "invalid_body",
        &format!("Payload validation error: {msg}"),
    )
}

fn insufficient(scopes: &str) -> Response {
    provider_error(
        K,
        403,
        "insufficient_scope",
        &format!("Insufficient scope, expected any of: {scopes}"),
    )
}

pub(super) fn api(st: &SimState, t: &mut Tenant, r: &Req, now: i64) -> Response {
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
    let has = |s: &str| tok.scopes.iter().any(|x| x == s);
    let segs: Vec<&str> = r.rest.trim_start_matches("/api/v2/").split('/').collect();
    match (&r.method, segs.as_slice()) {
        (&Method::GET, ["users"]) if has("read:users") => list_users(t, r),
        (&Method::GET, ["users", id]) if has("read:users") => {
            let id = url::form_urlencoded::parse(format!("x={id}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned());
            match id.as_deref().and_then(|i| t.dir.user(i)) {
                Some(u) => json_response(StatusCode::OK, &user_json(u)),
                None => provider_error(K, 404, "inexistent_user", "The user does not exist."),
            }
        }
        (&Method::GET, ["users"] | ["users", _]) => insufficient("read:users"),
        (&Method::POST, ["jobs", "users-exports"]) if has("read:users") => create_export(st, t, r),
        (&Method::POST, ["jobs", "users-exports"]) => insufficient("read:users"),
        (&Method::GET, ["jobs", id]) if has("read:users") || has("create:users") => {
            get_job(st, t, id)
        }
        (&Method::GET, ["jobs", _]) => insufficient("create:users,read:users"),
        _ => not_found(K, &r.rest),
    }
}

fn list_users(t: &mut Tenant, r: &Req) -> Response {
    let (page, per_page) = match (q_u64(r, "page"), q_u64(r, "per_page")) {
        (Ok(p), Ok(pp)) => (p, pp.unwrap_or(50)),
        (Err(e), _) | (_, Err(e)) => return bad_query(&e),
    };
    if !(1..=100).contains(&per_page) {
        return bad_query(&format!(
            "Invalid value \"{per_page}\" for parameter \"per_page\" (must be 1-100)"
        ));
    }
    let query = match r.q("q").map(UserQuery::parse).transpose() {
        Ok(q) => q.unwrap_or_default(),
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
    if let Some(e) = page_fault(t, start / per_page) {
        return e;
    }
    let (order, desc) = match r.q("sort") {
        Some("created_at:-1") => (UserOrder::Created, true),
        Some("created_at:1") => (UserOrder::Created, false),
        Some("updated_at:-1") => (UserOrder::Updated, true),
        Some("updated_at:1") => (UserOrder::Updated, false),
        _ if !query.created.is_empty() => (UserOrder::Created, false),
        _ if !query.updated.is_empty() => (UserOrder::Updated, false),
        _ => (UserOrder::Inserted, false),
    };
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let size = usize::try_from(size).unwrap_or(0);
    let d = &mut t.dir;
    let (users, total): (Vec<Value>, usize) = if query.is_one_range_of(order) {
        let range = match order {
            UserOrder::Created => query.created.first(),
            UserOrder::Updated => query.updated.first(),
            UserOrder::Inserted => None,
        };
        let (from, to) = match range {
            Some((lo, hi)) => d.time_range(order, *lo, *hi),
            None => (0, d.users().len()),
        };
        let (a, b) = if desc {
            let b = to.saturating_sub(start).max(from);
            (b.saturating_sub(size).max(from), b)
        } else {
            let a = from.saturating_add(start).min(to);
            (a, a.saturating_add(size).min(to))
        };
        let mut page = d.users_at(order, a, b);
        if desc {
            page.reverse();
        }
        (page.into_iter().map(user_json).collect(), to - from)
    } else {
        let mut rows: Vec<&User> = d
            .users_in(order)
            .into_iter()
            .filter(|u| query.matches(u))
            .collect();
        if desc {
            rows.reverse();
        }
        let page = rows
            .iter()
            .skip(start)
            .take(size)
            .map(|u| user_json(u))
            .collect();
        (page, rows.len())
    };
    if r.q("include_totals") == Some("true") {
        json_response(
            StatusCode::OK,
            &json!({ "start": start, "limit": per_page, "length": users.len(), "total": total.min(1000), "users": users }),
        )
    } else {
        json_response(StatusCode::OK, &Value::Array(users))
    }
}

/// Body of `POST /api/v2/jobs/users-exports`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportRequest {
    #[serde(default)]
    connection_id: Option<String>,
    #[serde(default)]
    format: Option<ExportFormat>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    fields: Option<Vec<ExportField>>,
}

fn create_export(st: &SimState, t: &mut Tenant, r: &Req) -> Response {
    let req: ExportRequest = match serde_json::from_slice(&r.body) {
        Ok(x) => x,
        Err(e) => return bad_body(&e.to_string()),
    };
    let connection = match req.connection_id {
        None => None,
        Some(c) => {
            let well_formed = c.strip_prefix("con_").is_some_and(|rest| {
                rest.len() == 16 && rest.chars().all(|ch| ch.is_ascii_alphanumeric())
            });
            if !well_formed {
                return bad_body(
                    "String does not match pattern ^con_[A-Za-z0-9]{16}$ on property connection_id",
                );
            }
            if c != AUTH0_CONNECTION_ID {
                return provider_error(
                    K,
                    404,
                    "inexistent_connection",
                    "The connection does not exist.",
                );
            }
            Some((c, AUTH0_CONNECTION_NAME.to_string()))
        }
    };
    if req.limit == Some(0) {
        return bad_body("Expected limit to be at least 1");
    }
    if let Some(fields) = &req.fields {
        if fields.len() > MAX_FIELDS {
            return bad_body(&format!(
                "Array is too long ({}), maximum {MAX_FIELDS} on property fields",
                fields.len()
            ));
        }
        if fields.iter().any(|f| f.name.trim().is_empty()) {
            return bad_body("String is too short (0 chars), minimum 1 on property fields[].name");
        }
    }
    let will_fail = t.faults.failing_exports > 0;
    if will_fail {
        t.faults.failing_exports -= 1;
        t.counters.faults_served += 1;
    }
    let job = ExportJob::new(
        format!("job_{}", &random_token(8)),
        req.format.unwrap_or(ExportFormat::Csv),
        connection,
        req.limit,
        req.fields,
        st.clock.now_ms(),
        will_fail,
    );
    let body = job.to_json(None);
    t.exports.jobs.insert(job.id.clone(), job);
    json_response(StatusCode::CREATED, &body)
}

fn get_job(st: &SimState, t: &mut Tenant, id: &str) -> Response {
    let timing = t.options.export_timing.unwrap_or_default();
    let now_ms = st.clock.now_ms();
    let base = st.tenant_base(&t.name);
    let Some(job) = t.exports.jobs.get_mut(id) else {
        return provider_error(K, 404, "inexistent_job", "The job does not exist.");
    };
    if matches!(job.state, JobState::Pending) && job.poll(timing, now_ms) {
        job.state = if job.will_fail {
            JobState::Failed
        } else {
            match job.render(t.dir.users().iter().map(user_json)) {
                Ok(file) => JobState::Completed {
                    file,
                    token: random_token(16),
                },
                Err(e) => {
                    return provider_error(K, 500, "server_error", &e.to_string());
                }
            }
        };
    }
    let location = match &job.state {
        JobState::Completed { token, .. } => Some(format!(
            "{base}/exports/{}/{}?sig={token}",
            job.id,
            job.file_name(&t.name)
        )),
        _ => None,
    };
    json_response(StatusCode::OK, &job.to_json(location.as_deref()))
}

/// S3-style error of the pre-signed download URL.
fn storage_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// `GET <tenant>/exports/{job}/{file}?sig=…`: the gzip file of a completed export.
pub(super) fn download(t: &mut Tenant, r: &Req) -> Response {
    let segs: Vec<&str> = r.rest.trim_start_matches("/exports/").split('/').collect();
    let file = match (
        segs.as_slice(),
        t.exports.jobs.get(segs.first().copied().unwrap_or("")),
    ) {
        ([_, name], Some(job)) if *name == job.file_name(&t.name) => match &job.state {
            JobState::Completed { file, token } if r.q("sig") == Some(token.as_str()) => {
                Some(file.clone())
            }
            _ => None,
        },
        _ => None,
    };
    let Some(file) = file else {
        return storage_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
    };
    if t.take_page_fault(0) {
        return storage_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        );
    }
    let mut resp = (StatusCode::OK, file).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    resp
}
