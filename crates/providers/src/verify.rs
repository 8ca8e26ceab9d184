//! Token verification (R-JWT-01..05): header checks before any key lookup, signature by the
//! IDP's key for the header's `kid`, then `iss`, `exp`/`nbf`/`iat` and `aud`.
//!
//! The signature is checked with the cached key's aws-lc-rs key, parsed once per JWK and
//! algorithm (see `VerifyingKey::verify_signature`), and the claims are base64-decoded and
//! parsed once, into a `serde_json::Map`, which is validated here rather than by
//! `jsonwebtoken::Validation` (which would parse them a second time).

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
    /// The IDP's JWKS could not be fetched and no usable key is cached (R-JWT-11): not a
    /// verdict on the token, which may well be good; retry.
    IdpUnavailable,
    /// An ID token whose `nonce` is not the one its sign-in sent (R-OIDC-01): a replayed or
    /// injected token.
    WrongNonce,
    /// An ID token whose `azp` names another client, or with several audiences and no `azp`.
    WrongAuthorizedParty,
    /// An ID token whose `at_hash` does not match the access token it came with.
    AccessTokenHashMismatch,
}

impl Refusal {
    /// Every refusal, in declaration order (for tables keyed by refusal, and their tests).
    pub const ALL: [Refusal; 13] = [
        Refusal::Expired,
        Refusal::NotYetValid,
        Refusal::BadSignature,
        Refusal::UnknownKid,
        Refusal::WrongIssuer,
        Refusal::WrongAudience,
        Refusal::AlgorithmNotAllowed,
        Refusal::Malformed,
        Refusal::MissingClaim,
        Refusal::IdpUnavailable,
        Refusal::WrongNonce,
        Refusal::WrongAuthorizedParty,
        Refusal::AccessTokenHashMismatch,
    ];

    /// Stable snake_case code for APIs, logs and metrics: the only spelling of each label
    /// (jwt-verifier's refusal table takes its labels from here).
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
            Refusal::IdpUnavailable => "idp_unavailable",
            Refusal::WrongNonce => "wrong_nonce",
            Refusal::WrongAuthorizedParty => "wrong_authorized_party",
            Refusal::AccessTokenHashMismatch => "access_token_hash_mismatch",
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
/// refetch, IdpUnavailable when the JWKS cannot be fetched: R-JWT-11), key type/alg
/// agreement, signature, then the claims at the current time.
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
            JwksError::UnknownKid { .. } => TokenRefused::new(Refusal::UnknownKid, e.to_string()),
            JwksError::Unavailable { .. } => TokenRefused::new(
                Refusal::IdpUnavailable,
                format!(
                    "identity provider {} is unavailable: {e}; this is an outage of the provider, not a bad token: retry shortly",
                    expected.issuer
                ),
            ),
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
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| malformed("the token signature is not base64url"))?;
    key.verify_signature(header.alg, message.as_bytes(), &signature)
        .map_err(|m| TokenRefused::new(Refusal::BadSignature, m))?;
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
        Some(aud) => match audience_matches(&expected.audience, aud) {
            Ok(true) => Ok(exp),
            Ok(false) => Err(TokenRefused::new(
                Refusal::WrongAudience,
                format!(
                    "audience must include {}: token has {aud}",
                    expected.audience
                ),
            )),
            Err(shape) => Err(malformed(shape.to_string())),
        },
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
    use crate::jwks::KeyType;
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
    fn every_refusal_is_listed_once_with_a_unique_snake_case_label() {
        // A new variant fails to compile here until it is added to `Refusal::ALL` too.
        let position = |r: Refusal| match r {
            Refusal::Expired => 0,
            Refusal::NotYetValid => 1,
            Refusal::BadSignature => 2,
            Refusal::UnknownKid => 3,
            Refusal::WrongIssuer => 4,
            Refusal::WrongAudience => 5,
            Refusal::AlgorithmNotAllowed => 6,
            Refusal::Malformed => 7,
            Refusal::MissingClaim => 8,
            Refusal::IdpUnavailable => 9,
            Refusal::WrongNonce => 10,
            Refusal::WrongAuthorizedParty => 11,
            Refusal::AccessTokenHashMismatch => 12,
        };
        for (i, refusal) in Refusal::ALL.iter().enumerate() {
            assert_eq!(position(*refusal), i, "{refusal:?}");
            let label = refusal.as_str();
            assert!(
                label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{label}"
            );
            assert_eq!(
                Refusal::ALL.iter().filter(|r| r.as_str() == label).count(),
                1,
                "{label}"
            );
        }
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
        // RFC 7519: an array of strings; other members make the token malformed.
        for aud in [
            json!(["https://api.acme.test", 7]),
            json!([null, "https://api.acme.test"]),
            json!(42),
        ] {
            v["aud"] = aud.clone();
            let err = check_claims(&claims(v.clone()), &expected(), NOW).unwrap_err();
            assert_eq!(err.reason, Refusal::Malformed, "{aud}");
            assert!(err.message.contains("aud claim"), "{}", err.message);
        }
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

    // ---- signatures, on tokens minted here with aws-lc-rs keys ----------------------------

    use crate::signature::tests::{rsa_keys, rsa_n_e};
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as lc, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

    /// A signing key and the public JWK (without `kid`/`alg`) that verifies it.
    enum Signer {
        Rsa(&'static RsaKeyPair),
        Ec(EcdsaKeyPair, usize),
        Ed(Ed25519KeyPair),
    }

    impl Signer {
        fn ec(alg: Algorithm) -> Self {
            match alg {
                Algorithm::ES256 => Signer::Ec(
                    EcdsaKeyPair::generate(&lc::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
                    32,
                ),
                _ => Signer::Ec(
                    EcdsaKeyPair::generate(&lc::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
                    48,
                ),
            }
        }

        /// A fresh key (or the `which`-th shared RSA key) that can sign `alg`.
        fn for_alg(alg: Algorithm, which: usize) -> Self {
            match alg {
                Algorithm::ES256 | Algorithm::ES384 => Signer::ec(alg),
                Algorithm::EdDSA => Signer::Ed(Ed25519KeyPair::generate().unwrap()),
                _ => Signer::Rsa(&rsa_keys()[which]),
            }
        }

        fn jwk(&self, kid: &str, alg: Option<Algorithm>) -> Value {
            let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
            let mut jwk = match self {
                Signer::Rsa(key) => {
                    let (n, e) = rsa_n_e(key);
                    json!({"kty":"RSA","n":b64(&n),"e":b64(&e)})
                }
                Signer::Ec(key, len) => {
                    let point = key.public_key().as_ref();
                    let crv = if *len == 32 { "P-256" } else { "P-384" };
                    json!({"kty":"EC","crv":crv,"x":b64(&point[1..=*len]),"y":b64(&point[1 + len..])})
                }
                Signer::Ed(key) => {
                    json!({"kty":"OKP","crv":"Ed25519","x":b64(key.public_key().as_ref())})
                }
            };
            jwk["kid"] = json!(kid);
            jwk["use"] = json!("sig");
            if let Some(alg) = alg {
                jwk["alg"] = json!(format!("{alg:?}"));
            }
            jwk
        }

        fn sign(&self, alg: Algorithm, msg: &[u8]) -> Vec<u8> {
            let rng = SystemRandom::new();
            match self {
                Signer::Rsa(key) => {
                    let padding: &'static dyn lc::RsaEncoding = match alg {
                        Algorithm::RS256 => &lc::RSA_PKCS1_SHA256,
                        Algorithm::RS384 => &lc::RSA_PKCS1_SHA384,
                        Algorithm::RS512 => &lc::RSA_PKCS1_SHA512,
                        Algorithm::PS256 => &lc::RSA_PSS_SHA256,
                        Algorithm::PS384 => &lc::RSA_PSS_SHA384,
                        _ => &lc::RSA_PSS_SHA512,
                    };
                    let mut sig = vec![0; key.public_modulus_len()];
                    key.sign(padding, &rng, msg, &mut sig).unwrap();
                    sig
                }
                Signer::Ec(key, _) => key.sign(&rng, msg).unwrap().as_ref().to_vec(),
                Signer::Ed(key) => key.sign(msg).as_ref().to_vec(),
            }
        }

        /// A compact JWS over the base claims, signed with `alg` and naming `kid`.
        fn token(&self, alg: Algorithm, kid: &str) -> String {
            let header = json!({"alg": format!("{alg:?}"), "typ": "JWT", "kid": kid});
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(base().to_string())
            );
            let sig = self.sign(alg, message.as_bytes());
            format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig))
        }
    }

    fn verify(token: &str, key: &VerifyingKey) -> Result<VerifiedToken, TokenRefused> {
        let header = TokenHeader::parse(token)?;
        verify_with_key(token, &header, key, &expected(), NOW)
    }

    #[test]
    fn r_jwt_01_every_allowed_algorithm_verifies_and_a_different_key_is_a_bad_signature() {
        for alg in ALLOWED_ALGORITHMS {
            let signer = Signer::for_alg(alg, 0);
            let key = VerifyingKey::from_jwk(&signer.jwk("k1", Some(alg))).unwrap();
            let token = signer.token(alg, "k1");
            let verified = verify(&token, &key).unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!((verified.alg, verified.exp), (alg, NOW + 600), "{alg:?}");
            assert_eq!(verified.claims["iss"], json!("https://acme.auth0.com/"));

            let impostor = Signer::for_alg(alg, 1).token(alg, "k1");
            let err = verify(&impostor, &key).unwrap_err();
            assert_eq!(err.reason, Refusal::BadSignature, "{alg:?}");
            assert_eq!(
                err.message,
                "the signature does not verify with key \"k1\" of the identity provider"
            );
        }
    }

    #[test]
    fn r_jwt_01_rsa_jwk_without_alg_verifies_rs256_and_ps384_with_one_key() {
        let signer = Signer::for_alg(Algorithm::RS256, 0);
        let key = VerifyingKey::from_jwk(&signer.jwk("k1", None)).unwrap();
        for alg in [Algorithm::RS256, Algorithm::PS384, Algorithm::PS256] {
            let verified = verify(&signer.token(alg, "k1"), &key).unwrap();
            assert_eq!(verified.alg, alg);
        }
        // A PS256 signature presented as RS256 does not verify.
        let ps = signer.token(Algorithm::PS256, "k1");
        let (_, rest) = ps.split_once('.').unwrap();
        let rs_header = URL_SAFE_NO_PAD.encode(json!({"alg":"RS256","kid":"k1"}).to_string());
        let relabelled = format!("{rs_header}.{rest}");
        assert_eq!(
            verify(&relabelled, &key).unwrap_err().reason,
            Refusal::BadSignature
        );
    }

    #[test]
    fn r_jwt_01_ps256_and_es384_keys_refuse_other_algorithms_before_the_signature() {
        let rsa = Signer::for_alg(Algorithm::PS256, 0);
        let key = VerifyingKey::from_jwk(&rsa.jwk("k1", Some(Algorithm::PS256))).unwrap();
        assert!(verify(&rsa.token(Algorithm::PS256, "k1"), &key).is_ok());
        let err = verify(&rsa.token(Algorithm::RS256, "k1"), &key).unwrap_err();
        assert_eq!(err.reason, Refusal::AlgorithmNotAllowed);

        let ec = Signer::ec(Algorithm::ES384);
        let key = VerifyingKey::from_jwk(&ec.jwk("k2", None)).unwrap();
        assert_eq!(key.kty, KeyType::EcP384);
        assert!(verify(&ec.token(Algorithm::ES384, "k2"), &key).is_ok());
        let p256 = Signer::ec(Algorithm::ES256).token(Algorithm::ES256, "k2");
        assert_eq!(
            verify(&p256, &key).unwrap_err().reason,
            Refusal::AlgorithmNotAllowed
        );
    }

    #[test]
    fn r_jwt_01_signature_that_is_not_base64url_is_malformed_and_a_tampered_one_bad() {
        let signer = Signer::for_alg(Algorithm::ES256, 0);
        let key = VerifyingKey::from_jwk(&signer.jwk("k1", None)).unwrap();
        let token = signer.token(Algorithm::ES256, "k1");
        let (message, sig) = token.rsplit_once('.').unwrap();
        let err = verify(&format!("{message}.!!{sig}"), &key).unwrap_err();
        assert_eq!(err.reason, Refusal::Malformed);
        assert_eq!(err.message, "the token signature is not base64url");
        let err = verify(&format!("{message}."), &key).unwrap_err();
        assert_eq!(err.reason, Refusal::BadSignature);
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        bytes[10] ^= 1;
        let tampered = format!("{message}.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            verify(&tampered, &key).unwrap_err().reason,
            Refusal::BadSignature
        );
    }

    #[test]
    fn an_unusable_key_is_a_bad_signature_naming_the_key() {
        // Parses as a JWK (as before) but is far below RSA-2048.
        let jwk = json!({"kty":"RSA","kid":"tiny","alg":"RS256","n":"sXch","e":"AQAB"});
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        let token = Signer::for_alg(Algorithm::RS256, 0).token(Algorithm::RS256, "tiny");
        let err = verify(&token, &key).unwrap_err();
        assert_eq!(err.reason, Refusal::BadSignature);
        assert!(err.message.contains("\"tiny\""), "{}", err.message);
    }

    /// Not a benchmark and asserts no timing: compares the per-call cost of the parsed key
    /// with `jsonwebtoken::crypto::verify` on this machine. Run with
    /// `cargo test -p alter-providers timing_ -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints timings only; run by hand"]
    fn timing_parsed_key_against_jsonwebtoken_crypto_verify() {
        use std::time::Instant;
        const N: u32 = 2000;
        let signer = Signer::for_alg(Algorithm::RS256, 0);
        let jwk = signer.jwk("k1", Some(Algorithm::RS256));
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        let token = signer.token(Algorithm::RS256, "k1");
        let (message, sig) = token.rsplit_once('.').unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let start = Instant::now();
        for _ in 0..N {
            let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            key.verify_signature(Algorithm::RS256, message.as_bytes(), &sig)
                .unwrap();
        }
        let parsed = start.elapsed() / N;
        let start = Instant::now();
        for _ in 0..N {
            let ok =
                jsonwebtoken::crypto::verify(sig, message.as_bytes(), &decoding, Algorithm::RS256)
                    .unwrap();
            assert!(ok);
        }
        let jwt = start.elapsed() / N;
        eprintln!("RS256 signature check per call: parsed key {parsed:?}, jsonwebtoken {jwt:?}");
    }
}
