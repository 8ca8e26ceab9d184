//! OIDC discovery (R-CFG-03): fetch `<issuer>/.well-known/openid-configuration`, require the
//! document's `issuer` to equal the configured issuer byte for byte, and take `jwks_uri`.

use alter_core::{IdpKind, Issuer};
use serde_json::{Map, Value};

use crate::error::DiscoveryError;
use crate::http::{describe, is_allowed_key_url, read_capped};

/// The parts of an OpenID Provider configuration document Alter uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryDocument {
    /// Equal to the configured issuer, exactly.
    pub issuer: String,
    /// Where the signing keys are published (https, or http on loopback).
    pub jwks_uri: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    /// Where the Wallet logout redirects, when the provider has one.
    pub end_session_endpoint: Option<String>,
    /// Empty when the document does not say.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Empty when the document does not say (OIDC Discovery: `client_secret_basic` then).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 9207: the authorization response carries `iss`, and a response without it is
    /// refused.
    pub authorization_response_iss_parameter_supported: bool,
}

impl DiscoveryDocument {
    /// The provider whose endpoint layout the document has, for an issuer on a host that
    /// names no provider (a custom domain, or the simulator on loopback): Okta serves keys
    /// and tokens under `<issuer>/v1/…` (`/oauth2/v1/…` for the org server), Auth0 under
    /// `<issuer>.well-known/jwks.json` and `<issuer>oauth/token` with the trailing slash
    /// kept, Clerk under `<issuer>/.well-known/jwks.json` and `<issuer>/oauth/token`.
    /// `None` for any other layout (a custom OIDC provider).
    pub fn layout_kind(&self) -> Option<IdpKind> {
        let issuer = self.issuer.as_str();
        let token = self.token_endpoint.as_deref().unwrap_or_default();
        let jwks = self.jwks_uri.as_str();
        if let Some(base) = issuer.strip_suffix('/') {
            let auth0 = jwks == format!("{issuer}.well-known/jwks.json")
                && token == format!("{issuer}oauth/token")
                && !base.is_empty();
            return auth0.then_some(IdpKind::Auth0);
        }
        let okta_server = if issuer.contains("/oauth2/") {
            issuer.to_owned()
        } else {
            format!("{issuer}/oauth2")
        };
        if jwks == format!("{okta_server}/v1/keys") && token == format!("{okta_server}/v1/token") {
            return Some(IdpKind::Okta);
        }
        let clerk = jwks == format!("{issuer}/.well-known/jwks.json")
            && token == format!("{issuer}/oauth/token")
            && self.authorization_endpoint.as_deref() == Some(&format!("{issuer}/oauth/authorize"));
        clerk.then_some(IdpKind::Clerk)
    }
}

/// R-CFG-03: GET `<issuer>/.well-known/openid-configuration`; the document's `issuer` must
/// equal the input exactly (trailing slash included) and `jwks_uri` is required (https, or
/// http only on loopback). Each failure has its own [`DiscoveryError`] variant.
pub async fn discover(
    client: &reqwest::Client,
    issuer: &Issuer,
) -> Result<DiscoveryDocument, DiscoveryError> {
    let url = issuer.discovery_url();
    let response = client
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| DiscoveryError::Unreachable {
            url: url.clone(),
            reason: describe(&e),
        })?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(DiscoveryError::Status {
            url,
            status: status.as_u16(),
        });
    }
    let body = read_capped(response)
        .await
        .map_err(|reason| DiscoveryError::Unreachable {
            url: url.clone(),
            reason,
        })?;
    parse_document(&url, issuer.as_str(), &body)
}

/// Checks a fetched discovery body against the configured issuer.
pub fn parse_document(
    url: &str,
    configured_issuer: &str,
    body: &[u8],
) -> Result<DiscoveryDocument, DiscoveryError> {
    let doc: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| DiscoveryError::NotJson {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let required = |field: &'static str| {
        doc.get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(DiscoveryError::MissingField {
                url: url.to_owned(),
                field,
            })
    };
    let optional = |field: &str| doc.get(field).and_then(Value::as_str).map(str::to_owned);
    let found = required("issuer")?;
    if found != configured_issuer {
        return Err(DiscoveryError::IssuerMismatch {
            configured: configured_issuer.to_owned(),
            found,
        });
    }
    let jwks_uri = required("jwks_uri")?;
    if !is_allowed_key_url(&jwks_uri) {
        return Err(DiscoveryError::InsecureJwksUri { jwks_uri });
    }
    let strings = |field: &str| -> Vec<String> {
        doc.get(field)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(DiscoveryDocument {
        issuer: found,
        jwks_uri,
        authorization_endpoint: optional("authorization_endpoint"),
        token_endpoint: optional("token_endpoint"),
        end_session_endpoint: optional("end_session_endpoint"),
        id_token_signing_alg_values_supported: strings("id_token_signing_alg_values_supported"),
        token_endpoint_auth_methods_supported: strings("token_endpoint_auth_methods_supported"),
        authorization_response_iss_parameter_supported: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://acme.auth0.com/.well-known/openid-configuration";

    #[test]
    fn r_cfg_03_issuer_mismatch_names_both_values() {
        let body = br#"{"issuer":"https://acme.auth0.com/","jwks_uri":"https://acme.auth0.com/.well-known/jwks.json"}"#;
        let err = parse_document(URL, "https://acme.auth0.com", body).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("configured https://acme.auth0.com,"),
            "{text}"
        );
        assert!(
            text.contains("document has https://acme.auth0.com/"),
            "{text}"
        );
    }

    #[test]
    fn r_cfg_03_missing_fields_and_bad_json_are_specific() {
        let err = parse_document(URL, "https://a/", b"[1]").unwrap_err();
        assert!(matches!(err, DiscoveryError::NotJson { .. }), "{err}");
        let err = parse_document(URL, "https://a/", br#"{"jwks_uri":"https://a/k"}"#).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::MissingField {
                url: URL.into(),
                field: "issuer"
            }
        );
        let err = parse_document(URL, "https://a/", br#"{"issuer":"https://a/"}"#).unwrap_err();
        assert!(matches!(
            err,
            DiscoveryError::MissingField {
                field: "jwks_uri",
                ..
            }
        ));
        let err = parse_document(
            URL,
            "https://a/",
            br#"{"issuer":"https://a/","jwks_uri":"http://a/keys"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(err, DiscoveryError::InsecureJwksUri { .. }),
            "{err}"
        );
    }

    #[test]
    fn r_cfg_03_optional_fields_are_taken() {
        let body = br#"{"issuer":"https://a/","jwks_uri":"https://a/k","end_session_endpoint":"https://a/logout","id_token_signing_alg_values_supported":["RS256",7]}"#;
        let doc = parse_document(URL, "https://a/", body).unwrap();
        assert_eq!(
            doc.end_session_endpoint.as_deref(),
            Some("https://a/logout")
        );
        assert_eq!(doc.token_endpoint, None);
        assert_eq!(doc.id_token_signing_alg_values_supported, vec!["RS256"]);
    }

    fn doc(issuer: &str, jwks: &str, token: &str, authorize: &str) -> DiscoveryDocument {
        DiscoveryDocument {
            issuer: issuer.into(),
            jwks_uri: jwks.into(),
            authorization_endpoint: Some(authorize.into()),
            token_endpoint: Some(token.into()),
            end_session_endpoint: None,
            id_token_signing_alg_values_supported: vec![],
            token_endpoint_auth_methods_supported: vec![],
            authorization_response_iss_parameter_supported: false,
        }
    }

    #[test]
    fn r_cfg_04_a_custom_domain_is_recognised_by_its_providers_endpoint_layout() {
        let okta = doc(
            "https://login.acme.com/oauth2/default",
            "https://login.acme.com/oauth2/default/v1/keys",
            "https://login.acme.com/oauth2/default/v1/token",
            "https://login.acme.com/oauth2/default/v1/authorize",
        );
        assert_eq!(okta.layout_kind(), Some(IdpKind::Okta));
        let okta_org = doc(
            "https://login.acme.com",
            "https://login.acme.com/oauth2/v1/keys",
            "https://login.acme.com/oauth2/v1/token",
            "https://login.acme.com/oauth2/v1/authorize",
        );
        assert_eq!(okta_org.layout_kind(), Some(IdpKind::Okta));
        let auth0 = doc(
            "https://id.acme.com/",
            "https://id.acme.com/.well-known/jwks.json",
            "https://id.acme.com/oauth/token",
            "https://id.acme.com/authorize",
        );
        assert_eq!(auth0.layout_kind(), Some(IdpKind::Auth0));
        let clerk = doc(
            "https://clerk.acme.com",
            "https://clerk.acme.com/.well-known/jwks.json",
            "https://clerk.acme.com/oauth/token",
            "https://clerk.acme.com/oauth/authorize",
        );
        assert_eq!(clerk.layout_kind(), Some(IdpKind::Clerk));
        // Keycloak's layout is none of them: a custom OIDC provider.
        let keycloak = doc(
            "https://sso.acme.com/realms/main",
            "https://sso.acme.com/realms/main/protocol/openid-connect/certs",
            "https://sso.acme.com/realms/main/protocol/openid-connect/token",
            "https://sso.acme.com/realms/main/protocol/openid-connect/auth",
        );
        assert_eq!(keycloak.layout_kind(), None);
        // Auth0's layout without its trailing slash is not Auth0's.
        let slashless = doc(
            "https://id.acme.com",
            "https://id.acme.com/.well-known/jwks.json",
            "https://id.acme.com/oauth/token",
            "https://id.acme.com/authorize",
        );
        assert_eq!(slashless.layout_kind(), None);
    }
}
