//! OIDC discovery (R-CFG-03): fetch `<issuer>/.well-known/openid-configuration`, require the
//! document's `issuer` to equal the configured issuer byte for byte, and take `jwks_uri`.

use alter_core::Issuer;
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
    let algs = doc
        .get("id_token_signing_alg_values_supported")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(DiscoveryDocument {
        issuer: found,
        jwks_uri,
        authorization_endpoint: optional("authorization_endpoint"),
        token_endpoint: optional("token_endpoint"),
        end_session_endpoint: optional("end_session_endpoint"),
        id_token_signing_alg_values_supported: algs,
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
}
