//! The browser-facing routes, all under `/v1/signin/{app_id}/` (what the ingress routes):
//!
//! | route                          | what                                                      |
//! |--------------------------------|-----------------------------------------------------------|
//! | `GET  authorize?return_to=&state=` | start `app.authenticate()`                            |
//! | `GET  callback`                | the identity provider's redirect; back to `return_to` with `code` |
//! | `GET  wallet/login`            | start a Wallet sign-in                                    |
//! | `GET  wallet/callback`         | the identity provider's redirect for the Wallet           |
//! | `GET  wallet`                  | the signed-in user, groups and grants (JSON)              |
//! | `POST wallet/logout`           | end the Wallet session, then the provider's end-session   |
//! | `GET  wallet/logged-out`       | where the provider returns after logout                   |
//!
//! Every answer is `Cache-Control: no-store` and `Referrer-Policy: no-referrer` (a code in a
//! URL never leaks through a `Referer`). A refusal is a page with the status, the reason
//! (`X-Alter-Error`) and what to do; an unknown path is 404, another method 405.

use std::sync::Arc;

use alter_proto::identity::v1 as pb;
use alter_store::SignInPurpose;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::error::Refusal;
use crate::flow::{CallbackQuery, CallbackRefusal, Redirect, SignIn};

/// The routes over `signin`.
pub fn router(signin: Arc<SignIn>) -> axum::Router {
    axum::Router::new()
        .route(
            "/v1/signin/{app_id}/authorize",
            get(authorize).fallback(method_not_allowed),
        )
        .route(
            "/v1/signin/{app_id}/callback",
            get(callback).fallback(method_not_allowed),
        )
        .route(
            "/v1/signin/{app_id}/wallet",
            get(wallet).fallback(method_not_allowed),
        )
        .route(
            "/v1/signin/{app_id}/wallet/login",
            get(wallet_login).fallback(method_not_allowed),
        )
        .route(
            "/v1/signin/{app_id}/wallet/callback",
            get(wallet_callback).fallback(method_not_allowed),
        )
        .route(
            "/v1/signin/{app_id}/wallet/logout",
            post(logout).fallback(method_not_allowed),
        )
        .route(
            "/v1/signin/{app_id}/wallet/logged-out",
            get(logged_out).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .with_state(signin)
}

fn count(step: &'static str, outcome: &'static str) {
    metrics::counter!("alter_signin_total", "step" => step, "outcome" => outcome).increment(1);
}

fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    harden(&mut response);
    response
}

fn refusal_page(refusal: &Refusal) -> Response {
    let mut response = page(refusal.status, "Sign-in refused", &refusal.message);
    if let Ok(code) = HeaderValue::from_str(refusal.code) {
        response.headers_mut().insert("x-alter-error", code);
    }
    response
}

fn set_cookies(response: &mut Response, cookies: &[crate::flow::Cookie]) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie.header_value()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

fn redirect(to: &Redirect, status: StatusCode) -> Response {
    let mut response = status.into_response();
    if let Ok(location) = HeaderValue::from_str(&to.location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    set_cookies(&mut response, &to.cookies);
    harden(&mut response);
    response
}

fn cookies(headers: &HeaderMap) -> String {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    return_to: Option<String>,
    state: Option<String>,
}

async fn authorize(
    State(signin): State<Arc<SignIn>>,
    Path(app_id): Path<String>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    start(
        &signin,
        &app_id,
        SignInPurpose::App,
        query.return_to.as_deref(),
        query.state.as_deref(),
    )
    .await
}

async fn wallet_login(State(signin): State<Arc<SignIn>>, Path(app_id): Path<String>) -> Response {
    start(&signin, &app_id, SignInPurpose::Wallet, None, None).await
}

async fn start(
    signin: &SignIn,
    app_id: &str,
    purpose: SignInPurpose,
    return_to: Option<&str>,
    state: Option<&str>,
) -> Response {
    match signin.authorize(app_id, purpose, return_to, state).await {
        Ok(to) => {
            count("authorize", "redirected");
            redirect(&to, StatusCode::FOUND)
        }
        Err(refusal) => {
            count("authorize", refusal.code);
            refusal_page(&refusal)
        }
    }
}

async fn callback(
    State(signin): State<Arc<SignIn>>,
    Path(app_id): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    finish(&signin, &app_id, SignInPurpose::App, &query, &headers).await
}

async fn wallet_callback(
    State(signin): State<Arc<SignIn>>,
    Path(app_id): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    finish(&signin, &app_id, SignInPurpose::Wallet, &query, &headers).await
}

async fn finish(
    signin: &SignIn,
    app_id: &str,
    purpose: SignInPurpose,
    query: &CallbackQuery,
    headers: &HeaderMap,
) -> Response {
    match signin
        .callback(app_id, purpose, query, &cookies(headers))
        .await
    {
        Ok(to) => {
            count("callback", "signed_in");
            redirect(&to, StatusCode::SEE_OTHER)
        }
        Err(CallbackRefusal {
            refusal,
            back_to,
            cookies,
        }) => {
            count("callback", refusal.code);
            tracing::info!(code = refusal.code, message = %refusal.message, "sign-in refused at the callback");
            let mut response = match back_to {
                // Unavailable: the user may retry from the app, which shows the error.
                Some(location) => {
                    let mut r = redirect(
                        &Redirect {
                            location,
                            cookies: Vec::new(),
                        },
                        StatusCode::SEE_OTHER,
                    );
                    if let Ok(code) = HeaderValue::from_str(refusal.code) {
                        r.headers_mut().insert("x-alter-error", code);
                    }
                    r
                }
                None => refusal_page(&refusal),
            };
            set_cookies(&mut response, &cookies);
            response
        }
    }
}

/// JSON of an identity, as the Wallet shows it.
pub fn identity_json(identity: &pb::VerifyResponse) -> serde_json::Value {
    let user = identity.user.as_ref().map(|u| {
        serde_json::json!({
            "id": u.id,
            "external_id": u.external_id,
            "email": u.email,
            "display_name": u.display_name,
            "status": pb::UserStatus::try_from(u.status)
                .map(|s| s.as_str_name())
                .unwrap_or("USER_STATUS_UNSPECIFIED"),
        })
    });
    let groups: Vec<_> = identity
        .groups
        .iter()
        .map(|g| serde_json::json!({"id": g.id, "external_id": g.external_id, "name": g.name}))
        .collect();
    let grants: Vec<_> = identity
        .grants
        .iter()
        .map(|g| {
            serde_json::json!({
                "id": g.id,
                "credential_ref": g.credential_ref,
                "principal_kind": pb::PrincipalKind::try_from(g.principal_kind)
                    .map(|k| k.as_str_name())
                    .unwrap_or("PRINCIPAL_KIND_UNSPECIFIED"),
                "principal_id": g.principal_id,
                "expires_at": g.expires_at,
            })
        })
        .collect();
    serde_json::json!({
        "user": user,
        "groups": groups,
        "grants": grants,
        "roles": identity.roles,
        "token_expires_at": identity.token_expires_at,
    })
}

async fn wallet(
    State(signin): State<Arc<SignIn>>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match signin.wallet(&app_id, &cookies(&headers)).await {
        Ok(identity) => {
            let mut response = Json(identity_json(&identity)).into_response();
            harden(&mut response);
            response
        }
        Err(refusal) => {
            let body = serde_json::json!({"error": refusal.code, "message": refusal.message});
            let mut response = (refusal.status, Json(body)).into_response();
            harden(&mut response);
            response
        }
    }
}

async fn logout(
    State(signin): State<Arc<SignIn>>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match signin.logout(&app_id, &cookies(&headers)).await {
        Ok(to) => {
            count("logout", "logged_out");
            redirect(&to, StatusCode::SEE_OTHER)
        }
        Err(refusal) => {
            count("logout", refusal.code);
            refusal_page(&refusal)
        }
    }
}

async fn logged_out() -> Response {
    page(
        StatusCode::OK,
        "Signed out",
        "You are signed out of the Wallet.",
    )
}

async fn not_found() -> Response {
    refusal_page(&Refusal::new(
        StatusCode::NOT_FOUND,
        "unknown_path",
        "no sign-in route here: the routes are /v1/signin/<app_id>/authorize, callback, wallet, wallet/login, wallet/callback, wallet/logout and wallet/logged-out",
    ))
}

async fn method_not_allowed() -> Response {
    refusal_page(&Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not served here: wallet/logout takes POST (a form), every other sign-in route GET",
    ))
}
