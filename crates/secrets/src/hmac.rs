//! HMAC-SHA256 for webhook signatures, with a constant-time verify so signature checks do not
//! leak how many bytes matched.

use aws_lc_rs::hmac;

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Whether `expected` is the HMAC-SHA256 of `msg` under `key`, compared in constant time.
/// A wrong-length `expected` is simply `false`.
pub fn verify_hmac_sha256(key: &[u8], msg: &[u8], expected: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, msg, expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231, test case 2.
    const KEY: &[u8] = b"Jefe";
    const MSG: &[u8] = b"what do ya want for nothing?";
    const MAC: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn hmac_sha256_matches_rfc_4231_test_case_2() {
        assert_eq!(hex::encode(hmac_sha256(KEY, MSG)), MAC);
    }

    #[test]
    fn verify_hmac_sha256_accepts_the_right_mac_and_rejects_others() {
        let mac = hex::decode(MAC).expect("hex");
        assert!(verify_hmac_sha256(KEY, MSG, &mac));

        let mut flipped = mac.clone();
        flipped[31] ^= 1;
        assert!(!verify_hmac_sha256(KEY, MSG, &flipped));
        assert!(!verify_hmac_sha256(KEY, MSG, &mac[..31]));
        assert!(!verify_hmac_sha256(b"Jeff", MSG, &mac));
        assert!(!verify_hmac_sha256(
            KEY,
            b"what do ya want for something?",
            &mac
        ));
    }
}
