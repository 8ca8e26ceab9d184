//! In-process floors, measured in the driver before any server starts: what a token check
//! costs with nothing around it.

use std::time::{Duration, Instant};

use alter_idp_sim::IdpSim;
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::AUDIENCE;

/// How long each floor loops.
const FLOOR_TIME: Duration = Duration::from_millis(1500);

/// µs per call of `op`, looped for [`FLOOR_TIME`] in batches of 100.
fn per_call(mut op: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < FLOOR_TIME {
        for _ in 0..100 {
            op()?;
        }
        n += 100;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / n as f64)
}

/// The published JWK that signed `token`.
fn signing_jwk(sim: &IdpSim, token: &str) -> anyhow::Result<serde_json::Value> {
    let kid = jsonwebtoken::decode_header(token)?
        .kid
        .ok_or_else(|| anyhow::anyhow!("minted tokens carry a kid"))?;
    let jwks = sim.jwks("bench")?;
    jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("kid {kid} is not published"))
}

/// µs per jsonwebtoken decode+validate with a key parsed once.
pub fn decode(
    sim: &IdpSim,
    issuer: &str,
    token: &str,
    alg: jsonwebtoken::Algorithm,
) -> anyhow::Result<f64> {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(signing_jwk(sim, token)?)?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk)?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[issuer]);
    per_call(|| {
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )?;
        std::hint::black_box(data);
        Ok(())
    })
}

/// µs per raw RS256 signature check (aws-lc-rs, RSA-2048 PKCS#1 v1.5 with SHA-256) of
/// `token`'s signing input, with the key parsed once and the signature already decoded: the
/// cryptographic work no verifier can skip on a cold call.
pub fn rs256_signature(sim: &IdpSim, token: &str) -> anyhow::Result<f64> {
    let jwk = signing_jwk(sim, token)?;
    let field = |name: &str| -> anyhow::Result<Vec<u8>> {
        let text = jwk[name]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the RSA JWK has no `{name}`"))?;
        let bytes = URL_SAFE_NO_PAD.decode(text)?;
        // aws-lc-rs refuses leading zero bytes, which some JWKs carry.
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        Ok(bytes[start..].to_vec())
    };
    let (n, e) = (field("n")?, field("e")?);
    let key = RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|e| anyhow::anyhow!("aws-lc-rs rejected the key: {e}"))?;
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| anyhow::anyhow!("not a compact JWS"))?;
    let signature = URL_SAFE_NO_PAD.decode(signature)?;
    per_call(|| {
        key.verify_sig(message.as_bytes(), &signature)
            .map_err(|_| anyhow::anyhow!("the minted token's signature does not verify"))
    })
}
