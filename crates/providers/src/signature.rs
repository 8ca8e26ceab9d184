//! JWS signature checks with aws-lc-rs public keys parsed once per JWK and algorithm, so the
//! hot path never rebuilds a key from `n`/`e` or `x`/`y` (R-JWT-01, R-JWT-05).
//!
//! aws-lc-rs is called directly, for the signature only, because jsonwebtoken 12 has no seam
//! for a pre-parsed key: its `CryptoProvider::verifier_factory` is a stateless, process-wide
//! `fn(&Algorithm, &DecodingKey)` and a `DecodingKey` cannot carry a parsed key, so any
//! provider would have to rebuild the key from the `DecodingKey` on every call.

use std::sync::OnceLock;

use aws_lc_rs::signature::{
    self as lc, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
};
use jsonwebtoken::Algorithm;

/// One lazily parsed key per algorithm a key type allows (six for RSA, one otherwise).
const SLOTS: usize = 6;

/// Public key material from a JWK, base64url-decoded and in the form aws-lc-rs parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyMaterial {
    /// `kty: RSA`: modulus and exponent, big-endian, leading zero bytes removed.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: EC`: the uncompressed SEC1 point `0x04 || x || y` (65 bytes for P-256, 97 for
    /// P-384).
    Ec(Vec<u8>),
    /// `kty: OKP, crv: Ed25519`: the 32-byte public key `x`.
    Ed25519(Vec<u8>),
}

impl KeyMaterial {
    /// RSA material from the JWK's decoded `n` and `e`. JWKs should carry no leading zero
    /// bytes (RFC 7518 §6.3.1) but some publish one; aws-lc-rs refuses them, so they go here.
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Self {
        let strip = |b: &[u8]| {
            let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            b[start..].to_vec()
        };
        KeyMaterial::Rsa {
            n: strip(n),
            e: strip(e),
        }
    }

    /// EC material from the JWK's decoded `x` and `y` (already checked to be curve-sized).
    pub(crate) fn ec(x: &[u8], y: &[u8]) -> Self {
        let mut point = Vec::with_capacity(1 + x.len() + y.len());
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        KeyMaterial::Ec(point)
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureFailure {
    /// The signature does not verify with this key.
    Mismatch,
    /// The key cannot verify `alg` signatures at all (wrong type, or aws-lc-rs rejected it).
    UnusableKey(String),
}

/// A JWK's public key with one parsed aws-lc-rs key per algorithm, each built on first use
/// and then shared by every verification (and every thread).
pub(crate) struct SignatureKey {
    material: KeyMaterial,
    slots: [OnceLock<Result<ParsedPublicKey, String>>; SLOTS],
}

impl SignatureKey {
    pub(crate) fn new(material: KeyMaterial) -> Self {
        Self {
            material,
            slots: Default::default(),
        }
    }

    /// Parses the key for `alg` now, so the first token signed with it pays nothing extra.
    pub(crate) fn warm(&self, alg: Algorithm) {
        let _ = self.parsed(alg);
    }

    /// Checks `signature` (raw bytes, fixed `r||s` for ECDSA) over `message` with `alg`.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureFailure> {
        self.parsed(alg)?
            .verify_sig(message, signature)
            .map_err(|_| SignatureFailure::Mismatch)
    }

    /// Whether the key for `alg` has been parsed (for tests of the once-only parsing).
    #[cfg(test)]
    pub(crate) fn is_parsed(&self, alg: Algorithm) -> bool {
        slot_of(&self.material, alg).is_some_and(|(i, _)| self.slots[i].get().is_some())
    }

    fn parsed(&self, alg: Algorithm) -> Result<&ParsedPublicKey, SignatureFailure> {
        let (index, build) = slot_of(&self.material, alg).ok_or_else(|| {
            SignatureFailure::UnusableKey(format!("the key cannot verify {alg:?} signatures"))
        })?;
        self.slots[index]
            .get_or_init(|| build.parse(&self.material))
            .as_ref()
            .map_err(|reason| SignatureFailure::UnusableKey(reason.clone()))
    }
}

/// How one slot's key is built from the material.
#[derive(Clone, Copy)]
enum Build {
    Rsa(&'static RsaParameters),
    Bytes(&'static dyn VerificationAlgorithm),
}

impl Build {
    fn parse(self, material: &KeyMaterial) -> Result<ParsedPublicKey, String> {
        let parsed = match (self, material) {
            (Build::Rsa(params), KeyMaterial::Rsa { n, e }) => {
                RsaPublicKeyComponents { n, e }.to_parsed_public_key(params)
            }
            (Build::Bytes(alg), KeyMaterial::Ec(bytes) | KeyMaterial::Ed25519(bytes)) => {
                ParsedPublicKey::new(alg, bytes)
            }
            _ => return Err("the key type does not fit the algorithm".to_owned()),
        };
        parsed.map_err(|e| format!("the public key was rejected: {e}"))
    }
}

/// The slot and aws-lc-rs algorithm for `alg` with this material, if the two fit.
fn slot_of(material: &KeyMaterial, alg: Algorithm) -> Option<(usize, Build)> {
    use Algorithm::*;
    let rsa = |i, params| Some((i, Build::Rsa(params)));
    match (material, alg) {
        (KeyMaterial::Rsa { .. }, RS256) => rsa(0, &lc::RSA_PKCS1_2048_8192_SHA256),
        (KeyMaterial::Rsa { .. }, RS384) => rsa(1, &lc::RSA_PKCS1_2048_8192_SHA384),
        (KeyMaterial::Rsa { .. }, RS512) => rsa(2, &lc::RSA_PKCS1_2048_8192_SHA512),
        (KeyMaterial::Rsa { .. }, PS256) => rsa(3, &lc::RSA_PSS_2048_8192_SHA256),
        (KeyMaterial::Rsa { .. }, PS384) => rsa(4, &lc::RSA_PSS_2048_8192_SHA384),
        (KeyMaterial::Rsa { .. }, PS512) => rsa(5, &lc::RSA_PSS_2048_8192_SHA512),
        (KeyMaterial::Ec(p), ES256) if p.len() == 65 => {
            Some((0, Build::Bytes(&lc::ECDSA_P256_SHA256_FIXED)))
        }
        (KeyMaterial::Ec(p), ES384) if p.len() == 97 => {
            Some((0, Build::Bytes(&lc::ECDSA_P384_SHA384_FIXED)))
        }
        (KeyMaterial::Ed25519(_), EdDSA) => Some((0, Build::Bytes(&lc::ED25519))),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

    /// Two RSA-2048 key pairs, generated once per test process (keygen is slow in debug).
    pub(crate) fn rsa_keys() -> &'static [RsaKeyPair; 2] {
        static KEYS: OnceLock<[RsaKeyPair; 2]> = OnceLock::new();
        KEYS.get_or_init(|| {
            [0, 1].map(|_| RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA keygen"))
        })
    }

    pub(crate) fn rsa_n_e(key: &RsaKeyPair) -> (Vec<u8>, Vec<u8>) {
        let public = key.public_key();
        (
            public.modulus().big_endian_without_leading_zero().to_vec(),
            public.exponent().big_endian_without_leading_zero().to_vec(),
        )
    }

    fn rsa_sign(key: &RsaKeyPair, alg: &'static dyn lc::RsaEncoding, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0; key.public_modulus_len()];
        key.sign(alg, &SystemRandom::new(), msg, &mut sig)
            .expect("RSA sign");
        sig
    }

    #[test]
    fn aws_lc_parses_rsa_pkcs1_der_and_jwk_components_to_the_same_key() {
        let key = &rsa_keys()[0];
        let (n, e) = rsa_n_e(key);
        assert_eq!(n[0] & 0x80, 0x80, "a 2048-bit modulus has its high bit set");
        assert_eq!(e, [0x01, 0x00, 0x01], "e = 65537");
        // PKCS#1 RSAPublicKey DER (not only SPKI) is accepted by the RSA verification algorithms.
        let pkcs1 = key.public_key().as_ref();
        assert_eq!(pkcs1[0], 0x30, "a DER SEQUENCE");
        let from_der = ParsedPublicKey::new(&lc::RSA_PKCS1_2048_8192_SHA256, pkcs1).unwrap();
        let from_jwk = SignatureKey::new(KeyMaterial::rsa(&n, &e));
        let parsed = from_jwk.parsed(Algorithm::RS256).unwrap();
        assert_eq!(
            parsed.as_der().unwrap().as_ref(),
            from_der.as_der().unwrap().as_ref(),
            "both routes give the same SubjectPublicKeyInfo"
        );
        let msg = b"header.payload";
        let sig = rsa_sign(key, &lc::RSA_PKCS1_SHA256, msg);
        assert_eq!(from_jwk.verify(Algorithm::RS256, msg, &sig), Ok(()));
        assert!(from_der.verify_sig(msg, &sig).is_ok());
    }

    #[test]
    fn rsa_components_with_leading_zero_bytes_still_verify() {
        let key = &rsa_keys()[0];
        let (n, e) = rsa_n_e(key);
        let padded_n = [&[0u8][..], &n].concat();
        let padded_e = [0u8, 0x01, 0x00, 0x01];
        let material = KeyMaterial::rsa(&padded_n, &padded_e);
        assert_eq!(material, KeyMaterial::Rsa { n, e: e.clone() });
        let msg = b"header.payload";
        let sig = rsa_sign(key, &lc::RSA_PSS_SHA256, msg);
        assert_eq!(
            SignatureKey::new(material).verify(Algorithm::PS256, msg, &sig),
            Ok(())
        );
        assert_eq!(
            KeyMaterial::rsa(&[0, 0], &e),
            KeyMaterial::Rsa { n: vec![], e },
            "an all-zero n becomes empty and is refused when parsed"
        );
    }

    #[test]
    fn an_alg_less_rsa_key_parses_each_algorithm_once_on_first_use() {
        let key = &rsa_keys()[0];
        let (n, e) = rsa_n_e(key);
        let signature_key = SignatureKey::new(KeyMaterial::rsa(&n, &e));
        assert!(!signature_key.is_parsed(Algorithm::RS256));
        let msg = b"header.payload";
        let sig = rsa_sign(key, &lc::RSA_PSS_SHA384, msg);
        assert_eq!(signature_key.verify(Algorithm::PS384, msg, &sig), Ok(()));
        let first: *const ParsedPublicKey = signature_key.parsed(Algorithm::PS384).unwrap();
        assert_eq!(signature_key.verify(Algorithm::PS384, msg, &sig), Ok(()));
        let again: *const ParsedPublicKey = signature_key.parsed(Algorithm::PS384).unwrap();
        assert_eq!(first, again, "the parsed key is reused, not rebuilt");
        assert!(signature_key.is_parsed(Algorithm::PS384));
        assert!(!signature_key.is_parsed(Algorithm::RS256));
        // A PS384 signature is not an RS384 one, even with the same key.
        assert_eq!(
            signature_key.verify(Algorithm::RS384, msg, &sig),
            Err(SignatureFailure::Mismatch)
        );
    }

    #[test]
    fn ec_point_is_uncompressed_x_then_y_and_verifies_fixed_signatures() {
        let rng = SystemRandom::new();
        for (signing, alg, len) in [
            (&lc::ECDSA_P256_SHA256_FIXED_SIGNING, Algorithm::ES256, 32),
            (&lc::ECDSA_P384_SHA384_FIXED_SIGNING, Algorithm::ES384, 48),
        ] {
            let pair = EcdsaKeyPair::generate(signing).unwrap();
            let public = pair.public_key().as_ref();
            let (x, y) = public[1..].split_at(len);
            let material = KeyMaterial::ec(x, y);
            assert_eq!(material, KeyMaterial::Ec(public.to_vec()));
            let key = SignatureKey::new(material);
            let sig = pair.sign(&rng, b"m").unwrap();
            assert_eq!(sig.as_ref().len(), 2 * len, "{alg:?} r||s");
            assert_eq!(key.verify(alg, b"m", sig.as_ref()), Ok(()));
            assert_eq!(
                key.verify(alg, b"n", sig.as_ref()),
                Err(SignatureFailure::Mismatch)
            );
            let other = if alg == Algorithm::ES256 {
                Algorithm::ES384
            } else {
                Algorithm::ES256
            };
            assert!(matches!(
                key.verify(other, b"m", sig.as_ref()),
                Err(SignatureFailure::UnusableKey(_))
            ));
        }
    }

    #[test]
    fn keys_refuse_algorithms_of_other_types_and_invalid_material() {
        let ed = Ed25519KeyPair::generate().unwrap();
        let key = SignatureKey::new(KeyMaterial::Ed25519(ed.public_key().as_ref().to_vec()));
        let sig = ed.sign(b"m");
        assert_eq!(key.verify(Algorithm::EdDSA, b"m", sig.as_ref()), Ok(()));
        assert!(matches!(
            key.verify(Algorithm::RS256, b"m", sig.as_ref()),
            Err(SignatureFailure::UnusableKey(_))
        ));
        let not_a_point = SignatureKey::new(KeyMaterial::ec(&[7; 32], &[9; 32]));
        let Err(SignatureFailure::UnusableKey(reason)) =
            not_a_point.verify(Algorithm::ES256, b"m", &[0; 64])
        else {
            panic!("an off-curve point must be unusable");
        };
        assert!(reason.contains("rejected"), "{reason}");
        let tiny = SignatureKey::new(KeyMaterial::rsa(&[0xb1, 0x77, 0x21], &[1, 0, 1]));
        assert!(tiny.verify(Algorithm::RS256, b"m", &[0; 3]).is_err());
    }
}
