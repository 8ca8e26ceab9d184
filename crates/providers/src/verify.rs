//! Token verification (R-JWT-01..05): header checks before any key lookup, signature by the
//! IDP's key for the header's `kid`, then `iss`, `exp`/`nbf`/`iat` and `aud`.
//!
//! The signature is checked with `jsonwebtoken::crypto::verify` on the cached key and the
//! claims are base64-decoded and parsed once, into a `serde_json::Map`, which is validated
//! here rather than by `jsonwebtoken::Validation` (which would parse them a second time).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alter_core::{IdpId, audience_matches};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::error::JwksError;
use crate::jwks::{ALLOWED_ALGORITHMS, JwksCache, VerifyingKey};

/// Longest token accepted, in bytes (large Okta group claims fit comfortably).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// What a token must say to be accepted for one IDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExpectations {
    /// `iss` must equal this byte for byte (R-JWT-02).
    pub issuer: String,
    /// `aud` (string or array) must name this (R-JWT-04).
    pub audience: String,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (R-JWT-03).
    pub leeway: Duration,
}

/// Why a token was refused, machine-readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    Expired,
    NotYetValid,
    BadSignature,
    UnknownKid,
    WrongIssuer,
    WrongAudience,
    AlgorithmNotAllowed,
    Malformed,
    MissingClaim,
}

impl Refusal {
    /// Stable snake_case code for APIs, logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::BadSignature => "bad_signature",
            Refusal::UnknownKid => "unknown_kid",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::AlgorithmNotAllowed => "algorithm_not_allowed",
            Refusal::Malformed => "malformed",
            Refusal::MissingClaim => "missing_claim",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused token: the reason code and a specific message (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct TokenRefused {
    pub reason: Refusal,
    pub message: String,
}

impl TokenRefused {
    pub fn new(reason: Refusal, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// A token whose signature and claims passed.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub claims: Map<String, Value>,
    pub exp: i64,
    pub kid: String,
    pub alg: Algorithm,
}

/// The parts of a JOSE header verification needs, checked before any key lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// One of [`ALLOWED_ALGORITHMS`].
    pub alg: Algorithm,
    pub kid: String,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<Value>,
    kid: Option<Value>,
    crit: Option<Value>,
}

impl TokenHeader {
    /// Parses the header of a compact JWS: the `alg` must be an allowed asymmetric one
    /// (`none`, HS* and anything else → AlgorithmNotAllowed), and a `kid` is required.
    pub fn parse(token: &str) -> Result<Self, TokenRefused> {
        let (header, _, _) = split(token)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| malformed("the token header is not base64url"))?;
        let raw: RawHeader = serde_json::from_slice(&bytes)
            .map_err(|_| malformed("the token header is not a JSON object"))?;
        let alg_name = match &raw.alg {
            Some(Value::String(name)) => name.as_str(),
            Some(_) => return Err(malformed("the token header's alg is not a string")),
            None => return Err(malformed("the token header has no alg")),
        };
        let alg = alg_name
            .parse::<Algorithm>()
            .ok()
            .filter(|a| ALLOWED_ALGORITHMS.contains(a))
            .ok_or_else(|| {
                TokenRefused::new(
                    Refusal::AlgorithmNotAllowed,
                    format!(
                        "algorithm {alg_name:?} is not allowed: only RS256/384/512, PS256/384/512, ES256/384 and EdDSA are accepted"
                    ),
                )
            })?;
        if raw.crit.is_some() {
            return Err(malformed(
                "the token header lists critical extensions (crit), which are not supported",
            ));
        }
        let kid = match raw.kid {
            Some(Value::String(kid)) if !kid.is_empty() => kid,
            Some(_) => {
                return Err(malformed(
                    "the token header's kid is not a non-empty string",
                ));
            }
            None => {
                return Err(malformed(
                    "the token header has no kid: the signing key cannot be chosen",
                ));
            }
        };
        Ok(Self { alg, kid })
    }
}

/// R-JWT-01..05: header, key by `kid` from the cache (UnknownKid after the rate-limited
/// refetch), key type/alg agreement, signature, then the claims at the current time.
pub async fn verify_token(
    token: &str,
    expected: &TokenExpectations,
    idp: IdpId,
    jwks_uri: &str,
    keys: &JwksCache,
) -> Result<VerifiedToken, TokenRefused> {
    let header = TokenHeader::parse(token)?;
    let key = keys
        .key(idp, jwks_uri, &header.kid)
        .await
        .map_err(|e| match e {
            JwksError::UnknownKid { .. } | JwksError::Unavailable { .. } => {
                TokenRefused::new(Refusal::UnknownKid, e.to_string())
            }
            JwksError::InvalidKey { .. } => TokenRefused::new(Refusal::BadSignature, e.to_string()),
        })?;
    verify_with_key(token, &header, &key, expected, unix_now())
}

/// The synchronous part of [`verify_token`], for a key already in hand: key/alg agreement,
/// signature, and claims at `now` (seconds since the Unix epoch).
pub fn verify_with_key(
    token: &str,
    header: &TokenHeader,
    key: &VerifyingKey,
    expected: &TokenExpectations,
    now: i64,
) -> Result<VerifiedToken, TokenRefused> {
    key.check_alg(header.alg)
        .map_err(|m| TokenRefused::new(Refusal::AlgorithmNotAllowed, m))?;
    let (_, payload, signature) = split(token)?;
    let message = &token[..token.len() - signature.len() - 1];
    let valid =
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.decoding_key, header.alg)
            .map_err(|_| malformed("the token signature is not base64url"))?;
    if !valid {
        return Err(TokenRefused::new(
            Refusal::BadSignature,
            format!(
                "the signature does not verify with key {:?} of the identity provider",
                key.kid
            ),
        ));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("the token payload is not base64url"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|_| malformed("the token payload is not a JSON object"))?;
    let exp = check_claims(&claims, expected, now)?;
    Ok(VerifiedToken {
        claims,
        exp,
        kid: header.kid.clone(),
        alg: header.alg,
    })
}

/// Checks `iss` (exact), `exp` (required), `nbf`, `iat` (not in the future) and `aud`
/// against `expected` at `now`; returns `exp`.
pub fn check_claims(
    claims: &Map<String, Value>,
    expected: &TokenExpectations,
    now: i64,
) -> Result<i64, TokenRefused> {
    let leeway = i64::try_from(expected.leeway.as_secs()).unwrap_or(i64::MAX);
    match claims.get("iss") {
        None => {
            return Err(TokenRefused::new(
                Refusal::MissingClaim,
                format!("the token has no iss claim; expected {}", expected.issuer),
            ));
        }
        Some(Value::String(iss)) if *iss == expected.issuer => {}
        Some(other) => {
            let shown = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            return Err(TokenRefused::new(
                Refusal::WrongIssuer,
                format!(
                    "issuer must match exactly: configured {}, token has {shown}",
                    expected.issuer
                ),
            ));
        }
    }
    let exp = numeric(claims, "exp")?.ok_or_else(|| {
        TokenRefused::new(
            Refusal::MissingClaim,
            "the token has no exp claim, which is required",
        )
    })?;
    if exp.saturating_add(leeway) <= now {
        return Err(TokenRefused::new(
            Refusal::Expired,
            format!("the token expired at {exp} (now {now}, leeway {leeway} s): get a fresh token"),
        ));
    }
    if let Some(nbf) = numeric(claims, "nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err(TokenRefused::new(
            Refusal::NotYetValid,
            format!("the token is not valid before {nbf} (now {now}, leeway {leeway} s)"),
        ));
    }
    if let Some(iat) = numeric(claims, "iat")?
        && iat > now.saturating_add(leeway)
    {
        return Err(TokenRefused::new(
            Refusal::NotYetValid,
            format!(
                "the token was issued in the future, at {iat} (now {now}, leeway {leeway} s): check the clocks"
            ),
        ));
    }
    match claims.get("aud") {
        None => Err(TokenRefused::new(
            Refusal::MissingClaim,
            format!("the token has no aud claim; expected {}", expected.audience),
        )),
        Some(aud) if audience_matches(&expected.audience, aud) => Ok(exp),
        Some(aud) => Err(TokenRefused::new(
            Refusal::WrongAudience,
            format!(
                "audience must include {}: token has {aud}",
                expected.audience
            ),
        )),
    }
}

/// A NumericDate claim (seconds; fractions are truncated), if present.
fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, TokenRefused> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e17)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| malformed(format!("the token's {name} claim is not a usable time"))),
        Some(_) => Err(malformed(format!(
            "the token's {name} claim is not a number of seconds"
        ))),
    }
}

/// Splits a compact JWS into exactly three parts.
fn split(token: &str) -> Result<(&str, &str, &str), TokenRefused> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(format!(
            "the token is longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(malformed(
            "the token is not a compact JWS (three base64url parts separated by dots)",
        )),
    }
}

fn malformed(message: impl Into<String>) -> TokenRefused {
    TokenRefused::new(Refusal::Malformed, message)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected() -> TokenExpectations {
        TokenExpectations {
            issuer: "https://acme.auth0.com/".into(),
            audience: "https://api.acme.test".into(),
            leeway: Duration::from_secs(60),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    const NOW: i64 = 1_700_000_000;

    fn base() -> Value {
        json!({"iss":"https://acme.auth0.com/","aud":"https://api.acme.test","exp":NOW+600,"iat":NOW})
    }

    fn refusal(v: Value) -> Refusal {
        check_claims(&claims(v), &expected(), NOW)
            .unwrap_err()
            .reason
    }

    #[test]
    fn r_jwt_02_issuer_is_exact_and_message_names_both() {
        let mut v = base();
        v["iss"] = json!("https://acme.auth0.com");
        let err = check_claims(&claims(v), &expected(), NOW).unwrap_err();
        assert_eq!(err.reason, Refusal::WrongIssuer);
        assert_eq!(
            err.message,
            "issuer must match exactly: configured https://acme.auth0.com/, token has https://acme.auth0.com"
        );
        let mut v = base();
        v.as_object_mut().unwrap().remove("iss");
        assert_eq!(refusal(v), Refusal::MissingClaim);
    }

    #[test]
    fn r_jwt_03_times_with_leeway() {
        assert_eq!(
            check_claims(&claims(base()), &expected(), NOW),
            Ok(NOW + 600)
        );
        let mut v = base();
        v["exp"] = json!(NOW - 30);
        assert!(check_claims(&claims(v.clone()), &expected(), NOW).is_ok());
        v["exp"] = json!(NOW - 60);
        assert_eq!(refusal(v), Refusal::Expired);
        let mut v = base();
        v["nbf"] = json!(NOW + 61);
        assert_eq!(refusal(v), Refusal::NotYetValid);
        let mut v = base();
        v["iat"] = json!(NOW + 61);
        assert_eq!(refusal(v), Refusal::NotYetValid);
        let mut v = base();
        v["iat"] = json!(NOW + 60);
        v["nbf"] = json!(NOW as f64 + 60.5);
        assert!(check_claims(&claims(v), &expected(), NOW).is_ok());
        let mut v = base();
        v.as_object_mut().unwrap().remove("exp");
        assert_eq!(refusal(v), Refusal::MissingClaim);
        let mut v = base();
        v["exp"] = json!("tomorrow");
        assert_eq!(refusal(v), Refusal::Malformed);
    }

    #[test]
    fn r_jwt_04_audience_string_or_array() {
        let mut v = base();
        v["aud"] = json!(["other", "https://api.acme.test"]);
        assert!(check_claims(&claims(v.clone()), &expected(), NOW).is_ok());
        v["aud"] = json!(["other"]);
        assert_eq!(refusal(v.clone()), Refusal::WrongAudience);
        v.as_object_mut().unwrap().remove("aud");
        assert_eq!(refusal(v), Refusal::MissingClaim);
    }

    fn token_with_header(header: Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        format!("{h}.e30.c2ln")
    }

    #[test]
    fn r_jwt_01_header_rules() {
        for alg in ["none", "HS256", "HS512", "RSA-OAEP", "rs256"] {
            let err =
                TokenHeader::parse(&token_with_header(json!({"alg":alg,"kid":"k"}))).unwrap_err();
            assert_eq!(err.reason, Refusal::AlgorithmNotAllowed, "{alg}");
            assert!(err.message.contains(alg), "{}", err.message);
        }
        let err = TokenHeader::parse(&token_with_header(json!({"alg":"RS256"}))).unwrap_err();
        assert_eq!(err.reason, Refusal::Malformed);
        assert!(err.message.contains("kid"));
        let ok = TokenHeader::parse(&token_with_header(json!({"alg":"ES256","kid":"k"}))).unwrap();
        assert_eq!(ok.alg, Algorithm::ES256);
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.x", "e30.e30.x"] {
            assert_eq!(
                TokenHeader::parse(bad).unwrap_err().reason,
                Refusal::Malformed,
                "{bad}"
            );
        }
    }
}
