//! Signing keys per tenant (RSA 2048, P-256, Ed25519), their JWKS form, rotation states,
//! and compact JWS signing including the deliberately broken `HS256`-with-public-key and
//! `none` forms used by algorithm-confusion tests.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::SimError;

/// Algorithm a minted token is signed with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenAlg {
    /// RSASSA-PKCS1-v1_5 SHA-256 with the tenant's active RSA key (the providers' default).
    #[default]
    RS256,
    /// ECDSA P-256 SHA-256 (key created and published on first use).
    ES256,
    /// Ed25519 (key created and published on first use).
    EdDSA,
    /// HMAC-SHA256 keyed with the active RSA key's public PEM (algorithm-confusion attack).
    HS256,
    /// Unsigned token, `alg: none`, empty signature.
    #[serde(rename = "none")]
    None,
}

/// Where a key is in its life: published ahead of use, signing, or kept for a grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in the JWKS, not yet signing.
    Next,
    /// Published and used for signing tokens of its algorithm.
    Active,
    /// Replaced; still published until `retire_previous_keys`.
    Previous,
}

/// Public description of one published key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// JWK `kid`.
    pub kid: String,
    /// Signing algorithm.
    pub alg: TokenAlg,
    /// Rotation state.
    pub state: KeyState,
}

enum Material {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

pub(crate) struct SimKey {
    pub(crate) kid: String,
    pub(crate) alg: TokenAlg,
    pub(crate) state: KeyState,
    material: Material,
    jwk: Value,
    public_pem: Option<String>,
}

impl SimKey {
    pub(crate) fn generate(alg: TokenAlg, kid: String) -> Result<Self, SimError> {
        let crypto = |e: aws_lc_rs::error::Unspecified| SimError::Crypto(e.to_string());
        let (material, jwk, public_pem) = match alg {
            TokenAlg::RS256 | TokenAlg::HS256 | TokenAlg::None => {
                let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(crypto)?;
                let comps = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                let jwk = json!({
                    "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": URL_SAFE_NO_PAD.encode(&comps.n), "e": URL_SAFE_NO_PAD.encode(&comps.e),
                });
                let der = kp.public_key().as_der().map_err(crypto)?;
                let pem = pem_public_key(der.as_ref());
                (Material::Rsa(kp), jwk, Some(pem))
            }
            TokenAlg::ES256 => {
                let kp = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(crypto)?;
                let point = kp.public_key().as_ref();
                let (x, y) = (point.get(1..33), point.get(33..65));
                let (Some(x), Some(y)) = (x, y) else {
                    return Err(SimError::Crypto("unexpected P-256 point encoding".into()));
                };
                let jwk = json!({
                    "kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
                });
                (Material::Ec(kp), jwk, None)
            }
            TokenAlg::EdDSA => {
                let kp = Ed25519KeyPair::generate().map_err(crypto)?;
                let jwk = json!({
                    "kty": "OKP", "kid": kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(kp.public_key().as_ref()),
                });
                (Material::Ed(kp), jwk, None)
            }
        };
        let alg = match alg {
            TokenAlg::HS256 | TokenAlg::None => TokenAlg::RS256,
            other => other,
        };
        Ok(Self {
            kid,
            alg,
            state: KeyState::Next,
            material,
            jwk,
            public_pem,
        })
    }

    pub(crate) fn jwk(&self) -> &Value {
        &self.jwk
    }

    pub(crate) fn public_pem(&self) -> Option<&str> {
        self.public_pem.as_deref()
    }

    pub(crate) fn info(&self) -> KeyInfo {
        KeyInfo {
            kid: self.kid.clone(),
            alg: self.alg,
            state: self.state,
        }
    }

    /// Signs `header.payload` with this key's own algorithm.
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, SimError> {
        let crypto = |e: aws_lc_rs::error::Unspecified| SimError::Crypto(e.to_string());
        let rng = SystemRandom::new();
        match &self.material {
            Material::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut sig)
                    .map_err(crypto)?;
                Ok(sig)
            }
            Material::Ec(kp) => Ok(kp.sign(&rng, input).map_err(crypto)?.as_ref().to_vec()),
            Material::Ed(kp) => Ok(kp.sign(input).as_ref().to_vec()),
        }
    }
}

/// PEM ("BEGIN PUBLIC KEY", SPKI) text of a DER public key.
fn pem_public_key(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// Builds a compact JWS. `key` signs for RS256/ES256/EdDSA; for HS256 its public PEM is the
/// HMAC secret; for `none` it is unused.
pub(crate) fn sign_compact(
    alg: TokenAlg,
    header: &Value,
    claims: &Value,
    key: &SimKey,
) -> Result<String, SimError> {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{h}.{p}");
    let sig = match alg {
        TokenAlg::RS256 | TokenAlg::ES256 | TokenAlg::EdDSA => key.sign(input.as_bytes())?,
        TokenAlg::HS256 => {
            let pem = key
                .public_pem()
                .ok_or_else(|| SimError::invalid("alg", "HS256 confusion needs an RSA key"))?;
            let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pem.as_bytes());
            aws_lc_rs::hmac::sign(&k, input.as_bytes())
                .as_ref()
                .to_vec()
        }
        TokenAlg::None => Vec::new(),
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// The keys of one tenant, in publication order.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<SimKey>,
    seq: u32,
}

impl KeySet {
    fn next_kid(&mut self, tenant: &str, alg: TokenAlg) -> String {
        self.seq += 1;
        let tag = match alg {
            TokenAlg::ES256 => "ec",
            TokenAlg::EdDSA => "ed",
            _ => "rsa",
        };
        format!("{tenant}-{tag}-{}", self.seq)
    }

    /// Adds a new key in state `Next`.
    pub(crate) fn publish_next(&mut self, tenant: &str, alg: TokenAlg) -> Result<String, SimError> {
        let kid = self.next_kid(tenant, alg);
        let key = SimKey::generate(alg, kid.clone())?;
        self.keys.push(key);
        Ok(kid)
    }

    /// Promotes the `Next` key of `alg` (or a fresh one) to `Active`; the old active key
    /// becomes `Previous` and stays published.
    pub(crate) fn rotate(&mut self, tenant: &str, alg: TokenAlg) -> Result<String, SimError> {
        let alg = base_alg(alg);
        let kid = match self
            .keys
            .iter()
            .find(|k| k.alg == alg && k.state == KeyState::Next)
        {
            Some(k) => k.kid.clone(),
            None => self.publish_next(tenant, alg)?,
        };
        for k in &mut self.keys {
            if k.alg == alg && k.state == KeyState::Active {
                k.state = KeyState::Previous;
            }
            if k.kid == kid {
                k.state = KeyState::Active;
            }
        }
        Ok(kid)
    }

    /// Removes every `Previous` key from the JWKS; returns their kids.
    pub(crate) fn retire_previous(&mut self) -> Vec<String> {
        let gone: Vec<String> = self
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Previous)
            .map(|k| k.kid.clone())
            .collect();
        self.keys.retain(|k| k.state != KeyState::Previous);
        gone
    }

    /// The active key for `alg`, created on first use.
    pub(crate) fn active(&mut self, tenant: &str, alg: TokenAlg) -> Result<&SimKey, SimError> {
        let alg = base_alg(alg);
        if !self
            .keys
            .iter()
            .any(|k| k.alg == alg && k.state == KeyState::Active)
        {
            self.rotate(tenant, alg)?;
        }
        self.keys
            .iter()
            .find(|k| k.alg == alg && k.state == KeyState::Active)
            .ok_or_else(|| SimError::Crypto("no active key after rotation".into()))
    }

    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>() })
    }

    pub(crate) fn infos(&self) -> Vec<KeyInfo> {
        self.keys.iter().map(SimKey::info).collect()
    }
}

fn base_alg(alg: TokenAlg) -> TokenAlg {
    match alg {
        TokenAlg::HS256 | TokenAlg::None => TokenAlg::RS256,
        other => other,
    }
}
