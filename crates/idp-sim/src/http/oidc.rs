//! Discovery documents and JWKS, with each provider's exact issuer and endpoint layout.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::{json_response, not_found};
use crate::model::{Tenant, TenantKind};
use crate::state::SimState;

fn okta_server(t: &Tenant, rest: &str) -> Result<Option<String>, ()> {
    let Some(after) = rest.strip_prefix("/oauth2/") else {
        return Ok(None);
    };
    let id = after.split('/').next().unwrap_or("");
    if id == "v1" {
        return Ok(None);
    }
    let known = t
        .options
        .auth_servers
        .clone()
        .unwrap_or_else(|| vec!["default".into()]);
    if known.iter().any(|k| k == id) {
        Ok(Some(id.to_string()))
    } else {
        Err(())
    }
}

pub(super) fn discovery(st: &SimState, t: &mut Tenant, rest: &str) -> Response {
    let base = st.tenant_base(&t.name);
    let doc = match t.kind {
        TenantKind::Auth0 if rest == "/.well-known/openid-configuration" => json!({
            "issuer": format!("{base}/"),
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "device_authorization_endpoint": format!("{base}/oauth/device/code"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "mfa_challenge_endpoint": format!("{base}/mfa/challenge"),
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "registration_endpoint": format!("{base}/oidc/register"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "end_session_endpoint": format!("{base}/oidc/logout"),
            "scopes_supported": ["openid","profile","offline_access","name","given_name","family_name","nickname","email","email_verified","picture","created_at","identities","phone","address"],
            "response_types_supported": ["code","token","id_token","code token","code id_token","token id_token","code token id_token"],
            // Real Auth0 also lists `plain`; the simulator refuses it, so it does not advertise it.
            "code_challenge_methods_supported": ["S256"],
            "response_modes_supported": ["query","fragment","form_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256","RS256","PS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic","client_secret_post","private_key_jwt"],
            "claims_supported": ["aud","auth_time","created_at","email","email_verified","exp","family_name","given_name","iat","identities","iss","name","nickname","phone_number","picture","sub"],
            "request_uri_parameter_supported": false,
            "request_parameter_supported": false,
            "dpop_signing_alg_values_supported": ["ES256"],
        }),
        TenantKind::Clerk
            if rest == "/.well-known/openid-configuration"
                || rest == "/.well-known/oauth-authorization-server" =>
        {
            json!({
                "issuer": base,
                "authorization_endpoint": format!("{base}/oauth/authorize"),
                "token_endpoint": format!("{base}/oauth/token"),
                "revocation_endpoint": format!("{base}/oauth/token/revoke"),
                "introspection_endpoint": format!("{base}/oauth/token_info"),
                "userinfo_endpoint": format!("{base}/oauth/userinfo"),
                "jwks_uri": format!("{base}/.well-known/jwks.json"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid","profile","email","public_metadata","private_metadata"],
                "claims_supported": ["sub","iss","aud","exp","iat","email","email_verified","name","given_name","family_name","picture"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic","client_secret_post","none"],
                "backchannel_logout_supported": false,
                "frontchannel_logout_supported": false,
            })
        }
        TenantKind::Okta => {
            let server = match okta_server(t, rest) {
                Ok(s) => s,
                Err(()) => return not_found(t.kind, "authorization server"),
            };
            let tail_ok = match &server {
                None => rest == "/.well-known/openid-configuration",
                Some(id) => {
                    rest == format!("/oauth2/{id}/.well-known/openid-configuration")
                        || rest == format!("/oauth2/{id}/.well-known/oauth-authorization-server")
                }
            };
            if !tail_ok {
                return not_found(t.kind, rest);
            }
            let issuer = st.issuer(&t.name, t.kind, server.as_deref());
            let ep = match &server {
                None => format!("{base}/oauth2/v1"),
                Some(_) => format!("{issuer}/v1"),
            };
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{ep}/authorize"),
                "token_endpoint": format!("{ep}/token"),
                "userinfo_endpoint": format!("{ep}/userinfo"),
                "registration_endpoint": format!("{base}/oauth2/v1/clients"),
                "jwks_uri": format!("{ep}/keys"),
                "response_types_supported": ["code","id_token","code id_token","code token","id_token token","code id_token token"],
                "response_modes_supported": ["query","fragment","form_post","okta_post_message"],
                "grant_types_supported": ["authorization_code","implicit","refresh_token","password","client_credentials"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid","email","profile","address","phone","offline_access","groups"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic","client_secret_post","client_secret_jwt","private_key_jwt","none"],
                "claims_supported": ["iss","ver","sub","aud","iat","exp","jti","auth_time","amr","idp","nonce","name","nickname","preferred_username","given_name","middle_name","family_name","email","email_verified","profile","zoneinfo","locale","address","phone_number","picture","website","gender","birthdate","updated_at","at_hash","c_hash"],
                "code_challenge_methods_supported": ["S256"],
                "introspection_endpoint": format!("{ep}/introspect"),
                "introspection_endpoint_auth_methods_supported": ["client_secret_basic","client_secret_post","client_secret_jwt","private_key_jwt","none"],
                "revocation_endpoint": format!("{ep}/revoke"),
                "revocation_endpoint_auth_methods_supported": ["client_secret_basic","client_secret_post","client_secret_jwt","private_key_jwt","none"],
                "end_session_endpoint": format!("{ep}/logout"),
                "request_parameter_supported": true,
                "request_object_signing_alg_values_supported": ["HS256","HS384","HS512","RS256","RS384","RS512","ES256","ES384","ES512"],
                "device_authorization_endpoint": format!("{ep}/device/authorize"),
                "pushed_authorization_request_endpoint": format!("{ep}/par"),
                "dpop_signing_alg_values_supported": ["RS256","RS384","RS512","ES256","ES384","ES512"],
            })
        }
        TenantKind::Oidc if rest == "/.well-known/openid-configuration" => json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "jwks_uri": format!("{base}/jwks"),
            "end_session_endpoint": format!("{base}/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "scopes_supported": ["openid","profile","email","offline_access"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256","ES256","EdDSA"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic","client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "claims_supported": ["iss","sub","aud","exp","iat","auth_time","nonce","at_hash","email","email_verified","name","given_name","family_name"],
        }),
        _ => return not_found(t.kind, rest),
    };
    json_response(StatusCode::OK, &doc)
}

pub(super) fn jwks(st: &SimState, t: &mut Tenant, rest: &str) -> Response {
    if t.kind == TenantKind::Okta {
        match okta_server(t, rest) {
            Ok(None) if rest == "/oauth2/v1/keys" => {}
            Ok(Some(id)) if rest == format!("/oauth2/{id}/v1/keys") => {}
            _ => return not_found(t.kind, rest),
        }
    }
    let _ = st;
    let body: Value = t.keys.jwks();
    let mut resp = json_response(StatusCode::OK, &body);
    let cc = t
        .options
        .jwks_cache_control
        .clone()
        .or_else(|| match t.kind {
            TenantKind::Auth0 => {
                Some("public, max-age=15, stale-while-revalidate=15, stale-if-error=15".into())
            }
            TenantKind::Okta => Some("max-age=3832304, must-revalidate".into()),
            TenantKind::Oidc => Some("public, max-age=300".into()),
            TenantKind::Clerk => None,
        });
    if let Some(v) = cc.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}
