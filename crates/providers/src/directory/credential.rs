//! R-DIR-01: the credential a directory sync uses per provider, and the offline checks each
//! must pass before it is tried against the provider (`verify_credential`).

use std::fmt;

use alter_core::{FieldError, IdpKind};
use alter_secrets::SecretString;
use aws_lc_rs::rsa::{KeyPair, KeyPairComponents, PublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use url::Url;

/// What a directory sync needs to read one provider's directory. Secrets are
/// [`SecretString`]s and `Debug` redacts them.
#[derive(Clone)]
pub enum DirectoryCredential {
    /// `domain`: a host such as `acme.us.auth0.com` (→ `https://acme.us.auth0.com/`), or a
    /// full URL (http only on loopback, for the simulator).
    Auth0 {
        domain: String,
        client_id: String,
        client_secret: SecretString,
    },
    /// `api_url`: `None` → `https://api.clerk.com/`; `Some(url)` for the simulator (http only
    /// on loopback).
    Clerk {
        secret_key: SecretString,
        api_url: Option<String>,
    },
    /// `org_url`: `https://acme.okta.com` (or the simulator's tenant URL); `private_jwk`: the
    /// JSON of an RSA private JWK; `key_id` used only when the JWK has no `kid`.
    Okta {
        org_url: String,
        client_id: String,
        private_jwk: SecretString,
        key_id: Option<String>,
    },
}

impl fmt::Debug for DirectoryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auth0 {
                domain, client_id, ..
            } => f
                .debug_struct("Auth0")
                .field("domain", domain)
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Self::Clerk { api_url, .. } => f
                .debug_struct("Clerk")
                .field("secret_key", &"[redacted]")
                .field("api_url", api_url)
                .finish(),
            Self::Okta {
                org_url,
                client_id,
                key_id,
                ..
            } => f
                .debug_struct("Okta")
                .field("org_url", org_url)
                .field("client_id", client_id)
                .field("private_jwk", &"[redacted]")
                .field("key_id", key_id)
                .finish(),
        }
    }
}

/// Clerk's Backend API.
pub const CLERK_API_URL: &str = "https://api.clerk.com";

impl DirectoryCredential {
    /// The provider this credential is for.
    pub const fn kind(&self) -> IdpKind {
        match self {
            Self::Auth0 { .. } => IdpKind::Auth0,
            Self::Clerk { .. } => IdpKind::Clerk,
            Self::Okta { .. } => IdpKind::Okta,
        }
    }

    /// The offline checks of R-DIR-01, each error naming the field and the fix: Clerk takes
    /// `sk_test_…`/`sk_live_…` only (a `pk_…` key is refused as the publishable key); the Okta
    /// JWK must parse, be RSA and hold its private parts (a public JWK is refused as such),
    /// with a `kid` from the JWK or `key_id`; URLs well-formed, https except loopback http.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            Self::Auth0 {
                domain,
                client_id,
                client_secret,
            } => {
                auth0_base(domain)?;
                required(
                    "client_id",
                    client_id,
                    "the Client ID of a Machine-to-Machine application authorized for the Auth0 Management API",
                )?;
                if client_secret.expose().trim().is_empty() {
                    return Err(FieldError::new(
                        "client_secret",
                        "is required: give the Client Secret of that Machine-to-Machine application",
                    ));
                }
                Ok(())
            }
            Self::Clerk {
                secret_key,
                api_url,
            } => {
                clerk_base(api_url.as_deref())?;
                check_clerk_key(secret_key.expose())
            }
            Self::Okta {
                org_url,
                client_id,
                private_jwk,
                key_id,
            } => {
                okta_base(org_url)?;
                required(
                    "client_id",
                    client_id,
                    "the Client ID of the Okta API Services application",
                )?;
                OktaSigningKey::parse(private_jwk, key_id.as_deref()).map(|_| ())
            }
        }
    }
}

fn required(field: &str, value: &str, what: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, format!("is required: give {what}")));
    }
    if value.trim() != value || value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "has leading/trailing spaces or control characters: paste the value exactly",
        ));
    }
    Ok(())
}

fn check_clerk_key(key: &str) -> Result<(), FieldError> {
    const FIELD: &str = "secret_key";
    if key.starts_with("pk_") {
        return Err(FieldError::new(
            FIELD,
            "is the publishable key (pk_…), which cannot read the directory: use the Secret key (sk_live_… or sk_test_…) from Clerk Dashboard → Configure → API keys",
        ));
    }
    let rest = key
        .strip_prefix("sk_live_")
        .or_else(|| key.strip_prefix("sk_test_"));
    match rest {
        None => Err(FieldError::new(
            FIELD,
            "must be a Clerk secret key starting with sk_live_ or sk_test_: copy it from Clerk Dashboard → Configure → API keys",
        )),
        Some(r) if r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Err(FieldError::new(
                FIELD,
                "is not a complete Clerk secret key (letters and digits after sk_live_/sk_test_): copy it again without spaces or line breaks",
            ))
        }
        Some(_) => Ok(()),
    }
}

/// A base URL: `https://host[:port][/path]`, or `http` on a loopback host; no query,
/// fragment or credentials. Returned without a trailing slash.
fn base_url(field: &str, input: &str, example: &str) -> Result<Url, FieldError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(
            field,
            format!("is required, e.g. {example}"),
        ));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| {
        FieldError::new(
            field,
            format!("is not a valid URL or host name ({e}), e.g. {example}"),
        )
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(
            field,
            format!("has no host name, e.g. {example}"),
        ));
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(FieldError::new(
                field,
                format!(
                    "must be an https URL (got {other}://; plain http is allowed only for 127.0.0.1 and localhost), e.g. {example}"
                ),
            ));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            field,
            "must not contain credentials: remove the user:password@ part",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(FieldError::new(
            field,
            format!("must not have a query or fragment, e.g. {example}"),
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// Base URL of an Auth0 tenant (`https://{domain}`).
pub(crate) fn auth0_base(domain: &str) -> Result<Url, FieldError> {
    base_url("domain", domain, "acme.us.auth0.com")
}

/// Base URL of Clerk's Backend API.
pub(crate) fn clerk_base(api_url: Option<&str>) -> Result<Url, FieldError> {
    base_url("api_url", api_url.unwrap_or(CLERK_API_URL), CLERK_API_URL)
}

/// Base URL of an Okta org.
pub(crate) fn okta_base(org_url: &str) -> Result<Url, FieldError> {
    base_url("org_url", org_url, "https://acme.okta.com")
}

/// `base` with `segments` appended to its path (each percent-encoded).
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The RSA key an Okta service app signs its client assertions with.
pub(crate) struct OktaSigningKey {
    pub(crate) kid: String,
    pub(crate) alg: RsaAlg,
    pub(crate) key_pair: KeyPair,
}

/// RS256/384/512, from the JWK's `alg` (RS256 when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RsaAlg {
    Rs256,
    Rs384,
    Rs512,
}

impl RsaAlg {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
        }
    }

    pub(crate) fn padding(self) -> &'static aws_lc_rs::signature::RsaSignatureEncoding {
        match self {
            Self::Rs256 => &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            Self::Rs384 => &aws_lc_rs::signature::RSA_PKCS1_SHA384,
            Self::Rs512 => &aws_lc_rs::signature::RSA_PKCS1_SHA512,
        }
    }
}

impl OktaSigningKey {
    /// Builds the key from the JWK's components; every refusal names `private_jwk` or
    /// `key_id` and says what to paste instead.
    pub(crate) fn parse(jwk: &SecretString, key_id: Option<&str>) -> Result<Self, FieldError> {
        const FIELD: &str = "private_jwk";
        let v: Value = serde_json::from_str(jwk.expose()).map_err(|e| {
            FieldError::new(
                FIELD,
                format!(
                    "is not valid JSON (line {}, column {}): paste the private key as a JWK JSON object",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        let Some(obj) = v.as_object() else {
            return Err(FieldError::new(
                FIELD,
                "must be a JWK JSON object ({\"kty\":\"RSA\",…}); a JWKS ({\"keys\":[…]}) or PEM is not accepted",
            ));
        };
        let text = |name: &str| obj.get(name).and_then(Value::as_str);
        match text("kty") {
            Some("RSA") => {}
            Some(other) => {
                return Err(FieldError::new(
                    FIELD,
                    format!(
                        "is a {other} key: directory sync signs with RSA (RS256); generate an RSA key pair for the Okta app and paste its private JWK"
                    ),
                ));
            }
            None => {
                return Err(FieldError::new(
                    FIELD,
                    "has no kty: paste the full RSA private JWK",
                ));
            }
        }
        let part = |name: &'static str| -> Result<Option<Vec<u8>>, FieldError> {
            match text(name) {
                None => Ok(None),
                Some(s) => URL_SAFE_NO_PAD
                    .decode(s.trim_end_matches('='))
                    .map(Some)
                    .map_err(|_| {
                        FieldError::new(
                            FIELD,
                            format!("member {name} is not base64url: paste the JWK unchanged"),
                        )
                    }),
            }
        };
        let (Some(n), Some(e)) = (part("n")?, part("e")?) else {
            return Err(FieldError::new(
                FIELD,
                "lacks the modulus n or exponent e: paste the full RSA private JWK",
            ));
        };
        let Some(d) = part("d")? else {
            return Err(FieldError::new(
                FIELD,
                "is a public JWK (it has no private exponent d): paste the private key you generated for the Okta app, not the public key registered in Okta",
            ));
        };
        let (Some(p), Some(q), Some(dp), Some(dq), Some(qi)) = (
            part("p")?,
            part("q")?,
            part("dp")?,
            part("dq")?,
            part("qi")?,
        ) else {
            return Err(FieldError::new(
                FIELD,
                "lacks some private parts (p, q, dp, dq, qi): export the complete private JWK",
            ));
        };
        let alg = match text("alg") {
            None | Some("RS256") => RsaAlg::Rs256,
            Some("RS384") => RsaAlg::Rs384,
            Some("RS512") => RsaAlg::Rs512,
            Some(other) => {
                return Err(FieldError::new(
                    FIELD,
                    format!("has alg {other}: use an RSA key for RS256, RS384 or RS512"),
                ));
            }
        };
        let kid = match (text("kid").filter(|k| !k.is_empty()), key_id) {
            (Some(k), _) => k.to_string(),
            (None, Some(k)) if !k.trim().is_empty() => k.trim().to_string(),
            _ => {
                return Err(FieldError::new(
                    "key_id",
                    "is required because the JWK has no kid: give the Key ID (KID) shown for this key under the Okta app's Public Keys",
                ));
            }
        };
        let components = KeyPairComponents {
            public_key: PublicKeyComponents {
                n: strip_zeros(&n),
                e: strip_zeros(&e),
            },
            d: d.as_slice(),
            p: p.as_slice(),
            q: q.as_slice(),
            dP: dp.as_slice(),
            dQ: dq.as_slice(),
            qInv: qi.as_slice(),
        };
        let key_pair = KeyPair::from_components(&components).map_err(|e| {
            FieldError::new(
                FIELD,
                format!(
                    "is not a usable RSA private key ({e}; 2048 to 8192 bits with consistent parts): generate a new key pair for the Okta app"
                ),
            )
        })?;
        Ok(Self { kid, alg, key_pair })
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http_and_lose_their_trailing_slash() {
        assert_eq!(
            auth0_base("acme.us.auth0.com").map(|u| u.to_string()),
            Ok("https://acme.us.auth0.com/".to_string())
        );
        assert_eq!(
            okta_base("http://127.0.0.1:8080/acme/").map(|u| u.to_string()),
            Ok("http://127.0.0.1:8080/acme".to_string())
        );
        let okta = okta_base("http://127.0.0.1:8080/acme").unwrap();
        assert_eq!(
            endpoint(&okta, &["api", "v1", "groups", "a b"]).as_str(),
            "http://127.0.0.1:8080/acme/api/v1/groups/a%20b"
        );
        let auth0 = auth0_base("acme.auth0.com").unwrap();
        assert_eq!(
            endpoint(&auth0, &["oauth", "token"]).as_str(),
            "https://acme.auth0.com/oauth/token"
        );
        for bad in [
            "http://acme.okta.com",
            "ftp://x",
            "https://u:p@acme.okta.com",
            "https://acme.okta.com/?x=1",
            "",
        ] {
            assert!(okta_base(bad).is_err(), "{bad}");
        }
        assert_eq!(
            clerk_base(None).map(|u| u.to_string()),
            Ok("https://api.clerk.com/".into())
        );
    }

    #[test]
    fn clerk_keys_must_be_secret_keys() {
        assert!(check_clerk_key("sk_test_abc123").is_ok());
        assert!(check_clerk_key("sk_live_abc123").is_ok());
        let pk = check_clerk_key("pk_test_abc").unwrap_err();
        assert_eq!(pk.field, "secret_key");
        assert!(pk.message.contains("publishable"), "{pk}");
        assert!(check_clerk_key("sk_test_").is_err());
        assert!(check_clerk_key("sk_test_ab c").is_err());
        assert!(check_clerk_key("whsec_abc").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = DirectoryCredential::Clerk {
            secret_key: SecretString::new("sk_test_verysecret"),
            api_url: None,
        };
        let a = DirectoryCredential::Auth0 {
            domain: "a.auth0.com".into(),
            client_id: "cid".into(),
            client_secret: SecretString::new("topsecret"),
        };
        let o = DirectoryCredential::Okta {
            org_url: "https://a.okta.com".into(),
            client_id: "0oa".into(),
            private_jwk: SecretString::new("{\"d\":\"privatepart\"}"),
            key_id: None,
        };
        let all = format!("{c:?} {a:?} {o:?}");
        for s in ["verysecret", "topsecret", "privatepart"] {
            assert!(!all.contains(s), "{all}");
        }
    }
}
