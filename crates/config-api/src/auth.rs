//! Admin authentication: every call carries `authorization: Bearer <token>`, and the token's
//! SHA-256 is compared in constant time against `config_api.admin_token_hashes`. Tokens are
//! never logged or echoed.

use alter_secrets::TokenHash;
use tonic::metadata::MetadataMap;

use crate::config::ADMIN_TOKEN_HASHES_KEY;
use crate::error::Error;

/// The configured token hashes.
#[derive(Clone, Debug)]
pub struct AdminAuth {
    hashes: Vec<TokenHash>,
}

impl AdminAuth {
    pub fn new(hashes: Vec<TokenHash>) -> Self {
        Self { hashes }
    }

    /// Accepts the call when its bearer token matches one configured hash, and answers who
    /// made it: the matched hash, shortened ([`alter_bus::admin_actor`]), for the audit trail
    /// (R-AUD-05). The token itself is never kept.
    pub fn check(&self, metadata: &MetadataMap) -> Result<String, Error> {
        let Some(value) = metadata.get("authorization") else {
            return Err(Error::Unauthenticated(
                "authorization is missing: send the admin token as `authorization: Bearer <token>` metadata \
                 (the alter CLI reads it from --token or ALTER_ADMIN_TOKEN)"
                    .to_owned(),
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated(
                    "authorization must be `Bearer <admin token>`: put the word Bearer and a space before the token".to_owned(),
                )
            })?;
        if self.hashes.is_empty() {
            return Err(Error::Unauthenticated(format!(
                "no admin tokens are configured: create one with `alter secrets new-admin-token` and put its hash in {ADMIN_TOKEN_HASHES_KEY}"
            )));
        }
        // Check every hash so the time taken does not depend on which one matched.
        let matched = self.hashes.iter().fold(None, |found, hash| {
            let this = hash.verify(token);
            found.or(this.then_some(hash))
        });
        if let Some(hash) = matched {
            let text = hash.to_string();
            Ok(alter_bus::admin_actor(
                text.strip_prefix("sha256:").unwrap_or(&text),
            ))
        } else {
            Err(Error::Unauthenticated(
                "the admin token is not valid: check --token / ALTER_ADMIN_TOKEN against a hash in config_api.admin_token_hashes".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn with(value: &'static str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", MetadataValue::from_static(value));
        m
    }

    #[test]
    fn accepts_only_a_configured_token_and_never_echoes_it() {
        let auth = AdminAuth::new(vec![TokenHash::of("alt_adm_good")]);
        assert!(auth.check(&with("Bearer alt_adm_good")).is_ok());
        let err = auth.check(&with("Bearer alt_adm_bad")).unwrap_err();
        assert!(!err.to_string().contains("alt_adm_bad"), "{err}");
        assert!(
            auth.check(&with("alt_adm_good"))
                .unwrap_err()
                .to_string()
                .contains("Bearer")
        );
        assert!(
            auth.check(&MetadataMap::new())
                .unwrap_err()
                .to_string()
                .contains("ALTER_ADMIN_TOKEN")
        );
        let none = AdminAuth::new(vec![]);
        // The actor names the matched token by its hash, never by the token.
        let two = AdminAuth::new(vec![
            TokenHash::of("alt_adm_other"),
            TokenHash::of("alt_adm_good"),
        ]);
        let actor = two.check(&with("Bearer alt_adm_good")).unwrap();
        let hash = TokenHash::of("alt_adm_good").to_string();
        assert_eq!(actor, format!("admin-token:sha256:{}", &hash[7..19]));
        assert!(!actor.contains("alt_adm_good"));
        assert_ne!(actor, two.check(&with("Bearer alt_adm_other")).unwrap());
        assert!(
            none.check(&with("Bearer alt_adm_good"))
                .unwrap_err()
                .to_string()
                .contains(ADMIN_TOKEN_HASHES_KEY)
        );
    }
}
