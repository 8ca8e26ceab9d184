//! A directory credential at rest (R-DIR-01): JSON sealed with the operator's keyring, bound
//! to its IDP, so config-api (which seals it) and the worker (which opens it) agree. The
//! plaintext only ever lives in `SecretString`s.

use alter_core::IdpId;
use alter_providers::directory::DirectoryCredential;
use alter_secrets::{Keyring, SecretString};
use alter_store::SealedSecret;
use serde::{Deserialize, Serialize};

/// The additional authenticated data a sealed credential is bound to.
pub fn credential_seal_context(idp: IdpId) -> Vec<u8> {
    format!("alter:directory_credential:{idp}").into_bytes()
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stored {
    Auth0 {
        domain: String,
        client_id: String,
        client_secret: String,
    },
    Clerk {
        secret_key: String,
        api_url: Option<String>,
    },
    Okta {
        org_url: String,
        client_id: String,
        private_jwk: String,
        key_id: Option<String>,
    },
}

/// Seals the credential for `idp`.
pub fn seal_credential(
    keyring: &Keyring,
    idp: IdpId,
    credential: &DirectoryCredential,
) -> Result<SealedSecret, String> {
    let stored = match credential {
        DirectoryCredential::Auth0 {
            domain,
            client_id,
            client_secret,
        } => Stored::Auth0 {
            domain: domain.clone(),
            client_id: client_id.clone(),
            client_secret: client_secret.expose().to_owned(),
        },
        DirectoryCredential::Clerk {
            secret_key,
            api_url,
        } => Stored::Clerk {
            secret_key: secret_key.expose().to_owned(),
            api_url: api_url.clone(),
        },
        DirectoryCredential::Okta {
            org_url,
            client_id,
            private_jwk,
            key_id,
        } => Stored::Okta {
            org_url: org_url.clone(),
            client_id: client_id.clone(),
            private_jwk: private_jwk.expose().to_owned(),
            key_id: key_id.clone(),
        },
    };
    let json = SecretString::new(
        serde_json::to_string(&stored).map_err(|e| format!("cannot encode the credential: {e}"))?,
    );
    let sealed = keyring
        .seal_str(&json, &credential_seal_context(idp))
        .map_err(|e| format!("cannot seal the credential: {e}"))?;
    Ok(SealedSecret::from_sealed(sealed))
}

/// Opens the credential sealed for `idp`.
pub fn open_credential(
    keyring: &Keyring,
    idp: IdpId,
    sealed: &SealedSecret,
) -> Result<DirectoryCredential, String> {
    let json = sealed
        .open_string(keyring, &credential_seal_context(idp))
        .map_err(|e| {
            format!("the directory credential cannot be opened with the configured keys: {e}")
        })?;
    let stored: Stored = serde_json::from_str(json.expose())
        .map_err(|_| "the stored directory credential is not readable: set it again with `alter directory credential set`".to_owned())?;
    Ok(match stored {
        Stored::Auth0 {
            domain,
            client_id,
            client_secret,
        } => DirectoryCredential::Auth0 {
            domain,
            client_id,
            client_secret: SecretString::new(client_secret),
        },
        Stored::Clerk {
            secret_key,
            api_url,
        } => DirectoryCredential::Clerk {
            secret_key: SecretString::new(secret_key),
            api_url,
        },
        Stored::Okta {
            org_url,
            client_id,
            private_jwk,
            key_id,
        } => DirectoryCredential::Okta {
            org_url,
            client_id,
            private_jwk: SecretString::new(private_jwk),
            key_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_credential_opens_only_for_its_idp() {
        let keyring = Keyring::new(alter_secrets::MasterKey::generate().unwrap());
        let idp = IdpId::new();
        let credential = DirectoryCredential::Clerk {
            secret_key: SecretString::new("sk_test_abc".to_owned()),
            api_url: None,
        };
        let sealed = seal_credential(&keyring, idp, &credential).unwrap();
        assert!(
            !String::from_utf8_lossy(&sealed.ciphertext).contains("sk_test_abc"),
            "sealed, not encoded"
        );
        match open_credential(&keyring, idp, &sealed).unwrap() {
            DirectoryCredential::Clerk { secret_key, .. } => {
                assert_eq!(secret_key.expose(), "sk_test_abc");
            }
            other => panic!("{other:?}"),
        }
        assert!(open_credential(&keyring, IdpId::new(), &sealed).is_err());
    }
}
