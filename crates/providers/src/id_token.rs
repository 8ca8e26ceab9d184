//! What an ID token must show beyond an access token's checks (OpenID Connect Core §3.1.3.7,
//! R-OIDC-01): the `nonce` its sign-in sent, `azp` naming this client when present (and
//! present when there are several audiences), and an `at_hash` matching the access token it
//! came with when the provider sends one. Signature, issuer, times and `aud` = client ID are
//! the access-token checks of [`crate::verify`] run with the client ID as the audience.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::verify::{Refusal, TokenRefused};

/// What the sign-in that received the ID token expects of it.
#[derive(Clone, Copy, Debug)]
pub struct IdTokenExpectations<'a> {
    /// The OIDC client the token was issued to (`aud`, `azp`).
    pub client_id: &'a str,
    /// The `nonce` sent on the authorization request.
    pub nonce: &'a str,
    /// The access token returned beside the ID token, checked against `at_hash`.
    pub access_token: Option<&'a str>,
}

/// Checks `nonce`, `azp` and `at_hash` of a token whose signature and standard claims passed.
pub fn check_id_token_claims(
    claims: &Map<String, Value>,
    alg: Algorithm,
    expected: &IdTokenExpectations<'_>,
) -> Result<(), TokenRefused> {
    match claims.get("nonce") {
        Some(Value::String(nonce))
            if alter_secrets::ct_eq(nonce.as_bytes(), expected.nonce.as_bytes()) => {}
        Some(Value::String(_)) => {
            return Err(TokenRefused::new(
                Refusal::WrongNonce,
                "the ID token's nonce is not the one this sign-in sent: it was issued for another sign-in (replayed or injected); start the sign-in again",
            ));
        }
        Some(_) => {
            return Err(TokenRefused::new(
                Refusal::Malformed,
                "the ID token's nonce is not a string",
            ));
        }
        None => {
            return Err(TokenRefused::new(
                Refusal::WrongNonce,
                "the ID token has no nonce, and this sign-in sent one: the identity provider must echo it",
            ));
        }
    }
    let several_audiences = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == expected.client_id => {}
        Some(Value::String(azp)) => {
            return Err(TokenRefused::new(
                Refusal::WrongAuthorizedParty,
                format!(
                    "the ID token's azp is {azp:?}: it was issued to another client than {:?}",
                    expected.client_id
                ),
            ));
        }
        Some(_) => {
            return Err(TokenRefused::new(
                Refusal::Malformed,
                "the ID token's azp is not a string",
            ));
        }
        None if several_audiences => {
            return Err(TokenRefused::new(
                Refusal::WrongAuthorizedParty,
                "the ID token names several audiences and no azp, so it cannot be told to be this client's",
            ));
        }
        None => {}
    }
    match (claims.get("at_hash"), expected.access_token) {
        (Some(Value::String(at_hash)), Some(access_token)) => {
            let wanted = access_token_hash(alg, access_token);
            if !alter_secrets::ct_eq(at_hash.as_bytes(), wanted.as_bytes()) {
                return Err(TokenRefused::new(
                    Refusal::AccessTokenHashMismatch,
                    "the ID token's at_hash does not match the access token returned with it: the access token was swapped",
                ));
            }
        }
        (Some(Value::String(_)), None) | (None, _) => {}
        (Some(_), _) => {
            return Err(TokenRefused::new(
                Refusal::Malformed,
                "the ID token's at_hash is not a string",
            ));
        }
    }
    Ok(())
}

/// `at_hash`: base64url of the left half of the access token's hash, the hash being the one
/// of the token's signing algorithm (SHA-256 for *256, SHA-384 for *384, SHA-512 for *512
/// and EdDSA over Ed25519).
pub fn access_token_hash(alg: Algorithm, access_token: &str) -> String {
    let algorithm = match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            &digest::SHA384
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            &digest::SHA512
        }
        _ => &digest::SHA256,
    };
    let hash = digest::digest(algorithm, access_token.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    const EXPECTED: IdTokenExpectations<'static> = IdTokenExpectations {
        client_id: "client-1",
        nonce: "n-1",
        access_token: Some("access-1"),
    };

    #[test]
    fn r_oidc_01_nonce_azp_and_at_hash_are_checked() {
        let at_hash = access_token_hash(Algorithm::RS256, "access-1");
        let good = claims(json!({"nonce": "n-1", "azp": "client-1", "at_hash": at_hash}));
        assert_eq!(
            check_id_token_claims(&good, Algorithm::RS256, &EXPECTED),
            Ok(())
        );

        let cases = [
            (json!({"nonce": "n-2"}), Refusal::WrongNonce),
            (json!({}), Refusal::WrongNonce),
            (
                json!({"nonce": "n-1", "azp": "other"}),
                Refusal::WrongAuthorizedParty,
            ),
            (
                json!({"nonce": "n-1", "aud": ["client-1", "api"]}),
                Refusal::WrongAuthorizedParty,
            ),
            (
                json!({"nonce": "n-1", "at_hash": access_token_hash(Algorithm::RS256, "other")}),
                Refusal::AccessTokenHashMismatch,
            ),
            (json!({"nonce": 7}), Refusal::Malformed),
        ];
        for (value, reason) in cases {
            let err = check_id_token_claims(&claims(value.clone()), Algorithm::RS256, &EXPECTED)
                .unwrap_err();
            assert_eq!(err.reason, reason, "{value}: {err}");
        }
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OpenID Connect Core's example: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // with RS256 has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            access_token_hash(
                Algorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(access_token_hash(Algorithm::ES384, "t").len(), 32);
    }
}
