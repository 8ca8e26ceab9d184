//! The authorization-code grant at the identity provider's token endpoint (RFC 6749 §4.1.3
//! with PKCE, RFC 7636), authenticating the client as discovery allows.

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::Refusal;

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` with the form-urlencoded client ID and secret (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl ClientAuth {
    /// `client_secret_basic` when the provider lists it or lists nothing (the default of
    /// OpenID Connect Discovery), else `client_secret_post` when listed; `None` when neither.
    pub fn choose(supported: &[String]) -> Option<Self> {
        if supported.is_empty() || supported.iter().any(|m| m == "client_secret_basic") {
            Some(ClientAuth::Basic)
        } else if supported.iter().any(|m| m == "client_secret_post") {
            Some(ClientAuth::Post)
        } else {
            None
        }
    }
}

/// The token endpoint's answer. Its `Debug` shows which tokens came, never their values.
#[derive(Clone)]
pub struct TokenResponse {
    pub id_token: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    /// Seconds since the epoch; 0 when the provider gave no `expires_in`.
    pub access_token_expires_at: i64,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("id_token", &"<redacted>")
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("access_token_expires_at", &self.access_token_expires_at)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawTokens {
    id_token: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct RawError {
    error: Option<String>,
    error_description: Option<String>,
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Exchanges `code` for the provider's tokens. A 4xx is the provider's refusal (a used or
/// expired code, a wrong client secret), answered as such; a 5xx, a timeout or an
/// unreachable provider is `unavailable`.
#[allow(clippy::too_many_arguments)]
pub async fn exchange(
    http: &reqwest::Client,
    token_endpoint: &str,
    auth: ClientAuth,
    client_id: &str,
    client_secret: &str,
    code: &str,
    redirect_uri: &str,
    code_verifier: &str,
    timeout: Duration,
) -> Result<TokenResponse, Refusal> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", code_verifier),
        ("client_id", client_id),
    ];
    let mut request = http
        .post(token_endpoint)
        .timeout(timeout)
        .header(reqwest::header::ACCEPT, "application/json");
    match auth {
        ClientAuth::Basic => {
            let credentials = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(credentials)),
            );
        }
        ClientAuth::Post => form.push(("client_secret", client_secret)),
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let response = request
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .map_err(|e| {
        Refusal::unavailable(format!(
            "the identity provider's token endpoint could not be reached: {}; start the sign-in again",
            alter_runtime::error_chain(&e)
        ))
    })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| {
        Refusal::unavailable(format!(
            "the token endpoint's answer was cut short: {e}; start the sign-in again"
        ))
    })?;
    if status.is_server_error() {
        return Err(Refusal::unavailable(format!(
            "the identity provider's token endpoint answered {status}; start the sign-in again"
        )));
    }
    if !status.is_success() {
        let why = serde_json::from_slice::<RawError>(&body).ok();
        let error = why
            .as_ref()
            .and_then(|w| w.error.clone())
            .unwrap_or_default();
        let description = why.and_then(|w| w.error_description).unwrap_or_default();
        // RFC 6749 §5.2: a failed client authentication is invalid_client, with 401 when
        // the client authenticated by header; Auth0 answers it 401 access_denied.
        let code = if error == "invalid_client" || status == reqwest::StatusCode::UNAUTHORIZED {
            "client_authentication_failed"
        } else {
            "code_exchange_refused"
        };
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            code,
            format!(
                "the identity provider refused the authorization code ({status} {error}: {description}): a code is single use and short-lived, and the client ID and secret must be the OIDC application's; start the sign-in again"
            ),
        ));
    }
    let raw: RawTokens = serde_json::from_slice(&body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_GATEWAY,
            "bad_token_response",
            format!("the token endpoint's answer is not the JSON of RFC 6749 §5.1: {e}"),
        )
    })?;
    let id_token = raw.id_token.filter(|t| !t.is_empty()).ok_or_else(|| {
        Refusal::new(
            StatusCode::BAD_GATEWAY,
            "no_id_token",
            "the token endpoint returned no id_token: the OIDC application must allow the openid scope",
        )
    })?;
    let access_token_expires_at = raw
        .expires_in
        .filter(|s| *s > 0)
        .map_or(0, |s| chrono::Utc::now().timestamp().saturating_add(s));
    Ok(TokenResponse {
        id_token,
        access_token: raw.access_token.filter(|t| !t.is_empty()),
        refresh_token: raw.refresh_token.filter(|t| !t.is_empty()),
        access_token_expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_chosen_when_listed_or_nothing_is_said_else_post() {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(ClientAuth::choose(&[]), Some(ClientAuth::Basic));
        assert_eq!(
            ClientAuth::choose(&list(&["client_secret_post", "client_secret_basic"])),
            Some(ClientAuth::Basic)
        );
        assert_eq!(
            ClientAuth::choose(&list(&["private_key_jwt", "client_secret_post"])),
            Some(ClientAuth::Post)
        );
        assert_eq!(ClientAuth::choose(&list(&["private_key_jwt"])), None);
    }
}
