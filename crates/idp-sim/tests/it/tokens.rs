use alter_idp_sim::{Fault, TenantKind, TokenAlg, TokenSpec};
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::{Value, json};

use crate::{client, sim_with};

async fn fetch_jwks(url: &str) -> JwkSet {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn verify(
    token: &str,
    jwks: &JwkSet,
    iss: &str,
    aud: &str,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let h = decode_header(token)?;
    let jwk = jwks
        .find(h.kid.as_deref().unwrap_or(""))
        .ok_or(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
    let mut v = Validation::new(h.alg);
    v.validate_nbf = true;
    v.set_issuer(&[iss]);
    v.set_audience(&[aud]);
    Ok(decode::<Value>(token, &DecodingKey::from_jwk(jwk)?, &v)?.claims)
}

#[tokio::test]
async fn discovery_issuer_forms_are_byte_exact() {
    let sim = alter_idp_sim::IdpSim::start().await.unwrap();
    let base = sim.base_url().to_string();
    for (name, kind, iss) in [
        ("a0", TenantKind::Auth0, format!("{base}/a0/")),
        ("ck", TenantKind::Clerk, format!("{base}/ck")),
        ("ok", TenantKind::Okta, format!("{base}/ok")),
        ("oi", TenantKind::Oidc, format!("{base}/oi")),
    ] {
        let info = sim.create_tenant(name, kind, Default::default()).unwrap();
        assert_eq!(info.issuer, iss);
        let doc: Value = client()
            .get(&info.discovery_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], json!(iss));
        assert_eq!(doc["jwks_uri"], json!(info.jwks_uri));
        let jwks = fetch_jwks(&info.jwks_uri).await;
        assert_eq!(jwks.keys.len(), 1);
    }
    let custom = format!("{base}/ok/oauth2/default");
    let doc: Value = client()
        .get(format!("{custom}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], json!(custom));
    assert_eq!(doc["jwks_uri"], json!(format!("{custom}/v1/keys")));
}

#[tokio::test]
async fn minted_tokens_verify_against_served_jwks_for_each_alg() {
    let (sim, info) = sim_with("acme", TenantKind::Auth0).await;
    for alg in [TokenAlg::RS256, TokenAlg::ES256, TokenAlg::EdDSA] {
        let spec = TokenSpec {
            alg,
            ..TokenSpec::new("auth0|1", json!(["api://x", "other"]))
        };
        let tok = sim.mint("acme", &spec).unwrap();
        let jwks = fetch_jwks(&info.jwks_uri).await;
        let claims = verify(&tok, &jwks, &info.issuer, "api://x").expect("verifies");
        assert_eq!(claims["sub"], "auth0|1");
    }
    // expired, not yet valid, unknown kid, HS256 confusion and none are all refused by a correct verifier
    let jwks = fetch_jwks(&info.jwks_uri).await;
    let bad = [
        TokenSpec {
            expires_in: Some(-120),
            ..TokenSpec::new("s", json!("api://x"))
        },
        TokenSpec {
            not_before_in: Some(600),
            ..TokenSpec::new("s", json!("api://x"))
        },
        TokenSpec {
            kid: Some("nope".into()),
            ..TokenSpec::new("s", json!("api://x"))
        },
        TokenSpec {
            alg: TokenAlg::HS256,
            ..TokenSpec::new("s", json!("api://x"))
        },
    ];
    for spec in bad {
        let tok = sim.mint("acme", &spec).unwrap();
        assert!(verify(&tok, &jwks, &info.issuer, "api://x").is_err());
    }
    // the HS256 token really is HMAC'd with the RSA public PEM
    let tok = sim
        .mint(
            "acme",
            &TokenSpec {
                alg: TokenAlg::HS256,
                ..TokenSpec::new("s", json!("api://x"))
            },
        )
        .unwrap();
    let pem = sim.rsa_public_pem("acme").unwrap();
    let mut v = Validation::new(jsonwebtoken::Algorithm::HS256);
    v.set_audience(&["api://x"]);
    assert!(decode::<Value>(&tok, &DecodingKey::from_secret(pem.as_bytes()).unwrap(), &v).is_ok());
    let none = sim
        .mint(
            "acme",
            &TokenSpec {
                alg: TokenAlg::None,
                ..TokenSpec::new("s", json!("a"))
            },
        )
        .unwrap();
    assert!(none.ends_with('.'));
    assert_eq!(
        decode_header(&none).map(|h| h.alg).ok(),
        None,
        "alg none is not even parseable by jsonwebtoken"
    );
}

#[tokio::test]
async fn key_rotation_publishes_new_key_and_drops_old_after_grace_command() {
    let (sim, info) = sim_with("rot", TenantKind::Okta).await;
    let old = fetch_jwks(&info.jwks_uri).await.keys[0]
        .common
        .key_id
        .clone()
        .unwrap();
    let old_token = sim.mint("rot", &TokenSpec::new("s", json!("a"))).unwrap();
    let new = sim.rotate_keys("rot", TokenAlg::RS256).unwrap();
    let jwks = fetch_jwks(&info.jwks_uri).await;
    assert!(jwks.find(&old).is_some() && jwks.find(&new).is_some());
    let new_token = sim.mint("rot", &TokenSpec::new("s", json!("a"))).unwrap();
    assert_eq!(
        decode_header(&new_token).unwrap().kid.as_deref(),
        Some(new.as_str())
    );
    assert!(verify(&old_token, &jwks, &info.issuer, "a").is_ok());
    assert_eq!(sim.retire_previous_keys("rot").unwrap(), vec![old.clone()]);
    let jwks = fetch_jwks(&info.jwks_uri).await;
    assert!(jwks.find(&old).is_none());
    assert!(verify(&old_token, &jwks, &info.issuer, "a").is_err());
    assert!(verify(&new_token, &jwks, &info.issuer, "a").is_ok());
}

#[tokio::test]
async fn jwks_down_fault_and_fetch_counter() {
    let (sim, info) = sim_with("down", TenantKind::Clerk).await;
    sim.inject_fault("down", Fault::JwksDown { down: true })
        .unwrap();
    assert_eq!(
        client().get(&info.jwks_uri).send().await.unwrap().status(),
        503
    );
    sim.inject_fault("down", Fault::JwksDown { down: false })
        .unwrap();
    assert_eq!(
        client().get(&info.jwks_uri).send().await.unwrap().status(),
        200
    );
    assert_eq!(sim.counters("down").unwrap().jwks_fetches, 2);
}
