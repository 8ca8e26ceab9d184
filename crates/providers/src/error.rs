//! Errors of the outbound provider clients. Each says what failed, with the URL or field
//! involved, and what to do; no secret ever appears in them.

use thiserror::Error;

/// Why OIDC discovery (R-CFG-03) failed. Nothing is saved when discovery fails.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DiscoveryError {
    /// The discovery URL could not be reached (DNS, connect, TLS, timeout).
    #[error(
        "issuer: the discovery document at {url} could not be fetched ({reason}): check the issuer URL and that the provider is reachable from this server"
    )]
    Unreachable { url: String, reason: String },
    /// The provider answered with a status other than 200.
    #[error(
        "issuer: the discovery document at {url} answered HTTP {status}, expected 200: check the issuer URL (tokens' iss claim, trailing slash included)"
    )]
    Status { url: String, status: u16 },
    /// The body was not a JSON object.
    #[error(
        "issuer: the discovery document at {url} is not a JSON object ({reason}): the issuer URL does not point at an OpenID Connect provider"
    )]
    NotJson { url: String, reason: String },
    /// A required field is missing or is not a string.
    #[error(
        "issuer: the discovery document at {url} lacks the required string field `{field}`: this provider cannot be discovered; give the JWKS URL by hand as a custom OIDC provider"
    )]
    MissingField { url: String, field: &'static str },
    /// The document names a different issuer than the one given.
    #[error(
        "issuer must match the discovery document exactly (trailing slash included): configured {configured}, document has {found}; use {found} if that is what your tokens carry in iss"
    )]
    IssuerMismatch { configured: String, found: String },
    /// `jwks_uri` is not an https URL (http is allowed only on loopback, for local testing).
    #[error(
        "issuer: the discovery document's jwks_uri {jwks_uri:?} is not an https URL (http is allowed only for 127.0.0.1 and localhost): keys must be fetched over TLS"
    )]
    InsecureJwksUri { jwks_uri: String },
}

/// Why a verifying key could not be produced from the IDP's JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwksError {
    /// The JWKS was fetched (or recently tried) and has no usable key with this `kid`.
    #[error(
        "no signing key with kid {kid:?} in the identity provider's JWKS at {jwks_uri}: the token was signed by a key the provider does not publish"
    )]
    UnknownKid { kid: String, jwks_uri: String },
    /// The JWKS could not be fetched and no usable key with this `kid` is cached (R-JWT-11):
    /// an outage of the identity provider, not a bad token.
    #[error("{}", unavailable_message(kid, jwks_uri, reason, cached))]
    Unavailable {
        kid: String,
        jwks_uri: String,
        /// What failed: `HTTP 503`, `connection failed: …`, `timed out`, …
        reason: String,
        /// What the cache held for the identity provider.
        cached: CachedKeys,
    },
    /// A JWK could not be turned into a verifying key.
    #[error("JWK {kid:?} is not a usable signing key: {reason}")]
    InvalidKey { kid: String, reason: String },
}

/// What the JWKS cache held for an identity provider when its JWKS could not be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachedKeys {
    /// No fetch ever succeeded: no key of this identity provider is known.
    Never,
    /// Keys were fetched `fetched_secs_ago`, which is past their freshness by more than the
    /// stale window of `max_stale_secs`: they are no longer served.
    Expired {
        fetched_secs_ago: u64,
        max_stale_secs: u64,
    },
    /// Keys are served, but none has the token's `kid` (it may be newly rotated in).
    WithoutKid,
}

fn unavailable_message(kid: &str, jwks_uri: &str, reason: &str, cached: &CachedKeys) -> String {
    match cached {
        CachedKeys::Never => format!(
            "the JWKS at {jwks_uri} could not be fetched ({reason}) and no key of this identity provider was ever fetched, so no token of it can be verified yet"
        ),
        CachedKeys::Expired {
            fetched_secs_ago,
            max_stale_secs,
        } => format!(
            "the JWKS at {jwks_uri} could not be fetched ({reason}) and the keys fetched {fetched_secs_ago} s ago are past their stale window of {max_stale_secs} s, so they are no longer trusted"
        ),
        CachedKeys::WithoutKid => format!(
            "no cached signing key has kid {kid:?} and the JWKS at {jwks_uri} could not be fetched ({reason}) to look for it (the key may be newly rotated in)"
        ),
    }
}

/// Umbrella error of this crate, for callers that want one type.
#[derive(Debug, Error)]
pub enum ProviderError {
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("the outbound HTTP client could not be built: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(transparent)]
    Jwks(#[from] JwksError),
}
