//! R-JWT-01..04: algorithms, signature, issuer, times and audience on real simulator tokens.

use std::time::Duration;

use alter_idp_sim::{TenantKind, TokenAlg, TokenSpec};
use alter_providers::{Refusal, TokenExpectations};
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::{AUD, Env};

fn with_alg(mut spec: TokenSpec, alg: TokenAlg) -> TokenSpec {
    spec.alg = alg;
    spec
}

#[tokio::test]
async fn r_jwt_01_rs256_es256_and_eddsa_tokens_verify() {
    let env = Env::auth0().await;
    // Mint all first: the simulator publishes the EC and Ed25519 keys on first use.
    let tokens: Vec<_> = [
        (TokenAlg::RS256, Algorithm::RS256),
        (TokenAlg::ES256, Algorithm::ES256),
        (TokenAlg::EdDSA, Algorithm::EdDSA),
    ]
    .into_iter()
    .map(|(alg, expected)| {
        let spec = with_alg(env.spec().claim("role", json!("admin")), alg);
        (env.mint(&spec), expected)
    })
    .collect();
    for (token, expected) in tokens {
        let verified = env.verify(&token).await.unwrap();
        assert_eq!(verified.alg, expected);
        assert_eq!(verified.claims["sub"], json!("user-1"));
        assert_eq!(verified.claims["role"], json!("admin"));
        assert_eq!(Some(verified.exp), verified.claims["exp"].as_i64());
    }
    assert_eq!(env.jwks_fetches(), 1);
}

#[tokio::test]
async fn r_jwt_01_hs256_signed_with_the_rsa_public_key_is_refused_before_any_key_lookup() {
    let env = Env::auth0().await;
    let token = env.mint(&with_alg(env.spec(), TokenAlg::HS256));
    let err = env.verify(&token).await.unwrap_err();
    assert_eq!(err.reason, Refusal::AlgorithmNotAllowed, "{err}");
    assert!(err.message.contains("HS256"), "{err}");
    assert_eq!(env.jwks_fetches(), 0);
}

#[tokio::test]
async fn r_jwt_01_alg_none_is_refused() {
    let env = Env::auth0().await;
    let token = env.mint(&with_alg(env.spec(), TokenAlg::None));
    let err = env.verify(&token).await.unwrap_err();
    assert_eq!(err.reason, Refusal::AlgorithmNotAllowed, "{err}");
    assert!(err.message.contains("\"none\""), "{err}");
    assert_eq!(env.jwks_fetches(), 0);
}

#[tokio::test]
async fn r_jwt_01_header_alg_must_fit_the_key_type() {
    let env = Env::auth0().await;
    let rsa_kid = env
        .sim
        .keys(&env.tenant)
        .unwrap()
        .into_iter()
        .map(|k| serde_json::to_value(k).unwrap())
        .find(|k| k["alg"] == json!("RS256") || k["kty"] == json!("RSA"))
        .and_then(|k| k["kid"].as_str().map(str::to_owned))
        .unwrap();
    // An ES256 token that names the RSA key.
    let mut spec = with_alg(env.spec(), TokenAlg::ES256);
    spec.kid = Some(rsa_kid);
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::AlgorithmNotAllowed, "{err}");
    assert!(err.message.contains("RSA"), "{err}");
}

#[tokio::test]
async fn r_jwt_01_missing_kid_is_malformed_and_tampering_breaks_the_signature() {
    let env = Env::auth0().await;
    let mut spec = env.spec();
    spec.omit_kid = true;
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::Malformed, "{err}");
    assert!(err.message.contains("kid"), "{err}");

    // Swap in the payload of a token for another user: the signature no longer matches.
    let honest = env.mint(&env.spec());
    let other = env.mint(&TokenSpec::new("user-2", json!(AUD)));
    let parts: Vec<&str> = honest.split('.').collect();
    let other_payload = other.split('.').nth(1).unwrap();
    let forged = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    let err = env.verify(&forged).await.unwrap_err();
    assert_eq!(err.reason, Refusal::BadSignature, "{err}");
    assert!(env.verify(&honest).await.is_ok());
}

#[tokio::test]
async fn r_jwt_02_issuer_must_match_exactly() {
    let env = Env::auth0().await;
    let token = env.mint(&env.spec());
    let without_slash = env.issuer.trim_end_matches('/').to_owned();
    let expected = TokenExpectations {
        issuer: without_slash.clone(),
        ..env.expect()
    };
    let err = env.verify_as(&token, &expected).await.unwrap_err();
    assert_eq!(err.reason, Refusal::WrongIssuer);
    assert_eq!(
        err.message,
        format!(
            "issuer must match exactly: configured {without_slash}, token has {}",
            env.issuer
        )
    );
    assert!(env.verify(&token).await.is_ok());
}

#[tokio::test]
async fn r_jwt_02_okta_custom_server_token_is_refused_for_the_org_issuer() {
    let env = Env::start(TenantKind::Okta, Duration::from_secs(60)).await;
    let mut spec = env.spec();
    spec.auth_server = Some("default".into());
    let token = env.mint(&spec.claim("aud", json!(AUD)));
    let err = env.verify(&token).await.unwrap_err();
    assert_eq!(err.reason, Refusal::WrongIssuer, "{err}");
    let custom = TokenExpectations {
        issuer: env.sim.issuer(&env.tenant, Some("default")).unwrap(),
        ..env.expect()
    };
    assert!(env.verify_as(&token, &custom).await.is_ok());
}

#[tokio::test]
async fn r_jwt_03_expiry_and_not_before_with_leeway() {
    let env = Env::auth0().await;
    let mut spec = env.spec();
    spec.expires_in = Some(-120);
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::Expired, "{err}");

    spec.expires_in = Some(-30);
    let within_leeway = env.mint(&spec);
    assert!(env.verify(&within_leeway).await.is_ok());
    let strict = TokenExpectations {
        leeway: Duration::ZERO,
        ..env.expect()
    };
    let err = env.verify_as(&within_leeway, &strict).await.unwrap_err();
    assert_eq!(err.reason, Refusal::Expired, "{err}");

    let mut spec = env.spec();
    spec.not_before_in = Some(600);
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::NotYetValid, "{err}");
    spec.not_before_in = Some(30);
    assert!(env.verify(&env.mint(&spec)).await.is_ok());
}

#[tokio::test]
async fn r_jwt_03_exp_is_required() {
    let env = Env::auth0().await;
    let token = env.mint(&env.spec().claim("exp", Value::Null));
    let err = env.verify(&token).await.unwrap_err();
    assert_eq!(err.reason, Refusal::MissingClaim, "{err}");
    assert!(err.message.contains("exp"), "{err}");
}

#[tokio::test]
async fn r_jwt_03_token_issued_in_the_future_is_not_yet_valid() {
    let env = Env::auth0().await;
    env.sim.advance_clock(600);
    let err = env.verify(&env.mint(&env.spec())).await.unwrap_err();
    assert_eq!(err.reason, Refusal::NotYetValid, "{err}");
    assert!(err.message.contains("issued in the future"), "{err}");
}

#[tokio::test]
async fn r_jwt_04_audience_as_string_or_array() {
    let env = Env::start(TenantKind::Clerk, Duration::from_secs(60)).await;
    let string = env.mint(&TokenSpec::new("user_1", json!(AUD)));
    assert!(env.verify(&string).await.is_ok());
    let array = env.mint(&TokenSpec::new(
        "user_1",
        json!(["https://other.test", AUD]),
    ));
    assert!(env.verify(&array).await.is_ok());
}

#[tokio::test]
async fn r_jwt_04_wrong_or_missing_audience_is_refused() {
    let env = Env::start(TenantKind::Oidc, Duration::from_secs(60)).await;
    for aud in [
        json!("https://other.test"),
        json!(["https://other.test"]),
        json!(format!("{AUD}/")),
    ] {
        let err = env
            .verify(&env.mint(&TokenSpec::new("u", aud.clone())))
            .await
            .unwrap_err();
        assert_eq!(err.reason, Refusal::WrongAudience, "{aud}");
        assert!(err.message.contains(AUD), "{err}");
    }
    let err = env
        .verify(&env.mint(&env.spec().claim("aud", Value::Null)))
        .await
        .unwrap_err();
    assert_eq!(err.reason, Refusal::MissingClaim, "{err}");
}
