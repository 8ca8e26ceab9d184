//! The outbound HTTP client used for discovery and JWKS: short timeouts so a slow provider
//! cannot stall a verify call, no redirects (a redirect could point key fetches elsewhere),
//! and bounded bodies.

use std::time::Duration;

use url::Url;

use crate::error::ProviderError;

/// Connect timeout of [`http_client`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Whole-request timeout of [`http_client`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery or JWKS body read; anything longer is refused.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// reqwest client with sane timeouts (connect 2 s, total 5 s), user agent
/// `alter-identity/<version>`, and no redirects for discovery/JWKS.
pub fn http_client() -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("alter-identity/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ProviderError::HttpClient)
}

/// Reads a response body up to [`MAX_BODY_BYTES`].
pub(crate) async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, String> {
    read_limited(response, MAX_BODY_BYTES).await
}

/// Reads a response body up to `max` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > max {
            return Err(format!("body is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A short, secret-free description of a transport error, including its cause chain.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "redirects are not followed"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether keys may be fetched from this URL: `https`, or `http` on a loopback host (tests
/// against a local simulator).
pub fn is_allowed_key_url(input: &str) -> bool {
    let Ok(url) = Url::parse(input) else {
        return false;
    };
    match url.scheme() {
        "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_urls_must_be_https_or_loopback_http() {
        assert!(is_allowed_key_url(
            "https://acme.auth0.com/.well-known/jwks.json"
        ));
        assert!(is_allowed_key_url("http://127.0.0.1:9000/acme/jwks"));
        assert!(is_allowed_key_url("http://localhost/jwks"));
        assert!(!is_allowed_key_url(
            "http://acme.auth0.com/.well-known/jwks.json"
        ));
        assert!(!is_allowed_key_url("ftp://127.0.0.1/jwks"));
        assert!(!is_allowed_key_url("/relative/jwks"));
    }

    #[test]
    fn client_builds() {
        assert!(http_client().is_ok());
    }
}
