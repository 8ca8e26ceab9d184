//! Directory clients against idp-sim: full listings, the Auth0 export, faults, rate limits,
//! the request budget, and the R-DIR-01 credential checks.

mod auth0;
mod clerk;
mod credentials;
mod okta;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use alter_idp_sim::{IdpSim, TenantKind, TenantOptions};
use alter_providers::directory::{
    DirectoryCredential, DirectoryError, DirectoryGroup, DirectoryPage, DirectoryReader,
    DirectoryUser, MAX_PAGE_ITEMS, RequestBudget,
};
use alter_secrets::SecretString;
use serde_json::{Value, json};

/// The RSA private JWK (no `kid`) the Okta tests sign with.
pub const OKTA_PRIVATE_JWK: &str = include_str!("okta_test_key.jwk.json");

/// The fixture JWK with a `kid` added.
pub fn private_jwk_with_kid(kid: &str) -> String {
    let mut v: Value = serde_json::from_str(OKTA_PRIVATE_JWK).unwrap();
    v["kid"] = json!(kid);
    v.to_string()
}

/// The public half of the fixture, as registered with the Okta app.
pub fn public_jwk(kid: &str) -> Value {
    let v: Value = serde_json::from_str(OKTA_PRIVATE_JWK).unwrap();
    json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": v["n"], "e": v["e"] })
}

/// A simulator with one tenant and a working directory credential for it.
pub struct Dir {
    pub sim: IdpSim,
    pub tenant: &'static str,
    pub base_url: String,
    pub credential: DirectoryCredential,
}

impl Dir {
    pub async fn new(kind: TenantKind) -> Self {
        let sim = IdpSim::start().await.unwrap();
        let tenant = "acme";
        let info = sim
            .create_tenant(tenant, kind, TenantOptions::default())
            .unwrap();
        let credential = match kind {
            TenantKind::Auth0 => {
                let c = sim.register_auth0_client(tenant, &["read:users"]).unwrap();
                DirectoryCredential::Auth0 {
                    domain: info.base_url.clone(),
                    client_id: c.client_id,
                    client_secret: SecretString::new(c.client_secret),
                }
            }
            TenantKind::Clerk => DirectoryCredential::Clerk {
                secret_key: SecretString::new(sim.register_clerk_secret_key(tenant).unwrap()),
                api_url: Some(info.base_url.clone()),
            },
            TenantKind::Okta => {
                let app = sim
                    .register_okta_service_app(
                        tenant,
                        vec![public_jwk("k1")],
                        &["okta.users.read", "okta.groups.read"],
                        true,
                    )
                    .unwrap();
                DirectoryCredential::Okta {
                    org_url: info.base_url.clone(),
                    client_id: app.client_id,
                    private_jwk: SecretString::new(private_jwk_with_kid("k1")),
                    key_id: None,
                }
            }
            TenantKind::Oidc => unreachable!("no directory"),
        };
        Self {
            sim,
            tenant,
            base_url: info.base_url,
            credential,
        }
    }

    pub async fn reader(&self, budget: RequestBudget) -> DirectoryReader {
        DirectoryReader::open(reqwest::Client::new(), &self.credential, Arc::new(budget))
            .await
            .unwrap()
    }

    /// Reads the whole directory with a generous budget.
    pub async fn read_all(&self) -> Result<Listing, DirectoryError> {
        let mut r = self.reader(RequestBudget::per_minute(100_000)).await;
        read_all(&mut r).await
    }
}

/// Everything a listing yielded.
#[derive(Debug, Default)]
pub struct Listing {
    pub users: Vec<DirectoryUser>,
    pub groups: Vec<DirectoryGroup>,
    /// Group id → member user ids, in listing order.
    pub members: HashMap<String, Vec<String>>,
    pub pages: usize,
}

impl Listing {
    pub fn user(&self, id: &str) -> &DirectoryUser {
        self.users
            .iter()
            .find(|u| u.external_id.as_str() == id)
            .unwrap_or_else(|| panic!("user {id} not listed"))
    }

    pub fn membership_count(&self) -> usize {
        self.members.values().map(Vec::len).sum()
    }
}

/// Reads pages to the end, asserting the order (users, groups, members) and the page size.
pub async fn read_all(r: &mut DirectoryReader) -> Result<Listing, DirectoryError> {
    let mut out = Listing::default();
    let mut stage = 0;
    while let Some(page) = r.next_page().await? {
        out.pages += 1;
        match page {
            DirectoryPage::Users(u) => {
                assert_eq!(stage, 0, "users after groups or members");
                assert!(!u.is_empty() && u.len() <= MAX_PAGE_ITEMS, "{}", u.len());
                out.users.extend(u);
            }
            DirectoryPage::Groups(g) => {
                assert!(stage <= 1, "groups after members");
                stage = 1;
                assert!(!g.is_empty() && g.len() <= MAX_PAGE_ITEMS);
                out.groups.extend(g);
            }
            DirectoryPage::Members { group, users } => {
                stage = 2;
                assert!(users.len() <= MAX_PAGE_ITEMS);
                out.members
                    .entry(group.as_str().to_string())
                    .or_default()
                    .extend(users.into_iter().map(|u| u.as_str().to_string()));
            }
        }
    }
    assert!(
        r.next_page().await?.is_none(),
        "a finished reader stays finished"
    );
    let ids: HashSet<_> = out.users.iter().map(|u| u.external_id.clone()).collect();
    assert_eq!(ids.len(), out.users.len(), "a user was listed twice");
    Ok(out)
}
