//! `config-api` configuration: the shared sections plus `[config_api]`.

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use alter_secrets::TokenHash;
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;

/// The config key holding the admin bearer token hashes; errors name it.
pub const ADMIN_TOKEN_HASHES_KEY: &str = "config_api.admin_token_hashes";

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub config_api: Settings,
}

/// The `[config_api]` section (`ALTER_CONFIG_API__<KEY>`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC API, health and reflection.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// Hashes (`sha256:<hex>`, from `alter secrets new-admin-token`) of the bearer tokens
    /// admins present. A list, or one string with comma-separated hashes (handy in an
    /// environment variable). Empty: every admin call is refused.
    #[serde(deserialize_with = "one_or_many")]
    pub admin_token_hashes: Vec<String>,
    /// The URL identity providers reach webhook-ingest at (through the ingress), without a
    /// trailing slash; webhook endpoints are `<public_webhook_base_url>/v1/webhooks/<idp_id>`.
    pub public_webhook_base_url: String,
    /// How long the previous webhook secret stays valid after a rotation, by default
    /// (R-HOOK-01), 0..=604800 seconds.
    pub webhook_rotation_grace_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9091)),
            admin_token_hashes: Vec::new(),
            public_webhook_base_url: "http://127.0.0.1:8080".to_owned(),
            webhook_rotation_grace_secs: 86_400,
        }
    }
}

/// Accepts `["sha256:…", …]` or `"sha256:…,sha256:…"`.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

impl Settings {
    pub fn listen(&self) -> ServiceListen {
        ServiceListen::new(self.listen, self.admin_listen)
    }

    /// The parsed hashes, or one issue per malformed entry naming its index.
    pub fn token_hashes(&self) -> Result<Vec<TokenHash>, Vec<ConfigIssue>> {
        let mut hashes = Vec::with_capacity(self.admin_token_hashes.len());
        let mut issues = Vec::new();
        for (i, raw) in self.admin_token_hashes.iter().enumerate() {
            match raw.parse::<TokenHash>() {
                Ok(hash) => hashes.push(hash),
                Err(e) => issues.push(ConfigIssue::new(
                    format!("{ADMIN_TOKEN_HASHES_KEY}[{i}]"),
                    e.to_string(),
                )),
            }
        }
        if issues.is_empty() {
            Ok(hashes)
        } else {
            Err(issues)
        }
    }
}

impl Config {
    /// Loopback on port 0 with the given database and NATS: what tests use.
    pub fn for_tests(common: CommonSettings) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            common,
            config_api: Settings {
                listen: any,
                admin_listen: any,
                ..Settings::default()
            },
        }
    }

    /// Adds the hash of an admin token (tests pass the token they will present).
    pub fn with_admin_token(mut self, token: &str) -> Self {
        self.config_api
            .admin_token_hashes
            .push(alter_secrets::hash_admin_token(token));
        self
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = vec![];
        self.common.validate(&mut issues);
        self.config_api.listen().validate("config_api", &mut issues);
        if let Err(bad) = self.config_api.token_hashes() {
            issues.extend(bad);
        }
        let base = &self.config_api.public_webhook_base_url;
        if !(base.starts_with("https://") || base.starts_with("http://")) || base.ends_with('/') {
            issues.push(ConfigIssue::new(
                "config_api.public_webhook_base_url",
                format!("is {base:?}; give the http(s) URL providers reach webhook-ingest at, without a trailing slash, e.g. https://alter.example.com"),
            ));
        }
        if self.config_api.webhook_rotation_grace_secs > 604_800 {
            issues.push(ConfigIssue::new(
                "config_api.webhook_rotation_grace_secs",
                "must be at most 604800 (7 days); 86400 is the default",
            ));
        }
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hashes: &[&str]) -> Settings {
        Settings {
            admin_token_hashes: hashes.iter().map(|s| (*s).to_owned()).collect(),
            ..Settings::default()
        }
    }

    #[test]
    fn malformed_token_hashes_are_reported_naming_the_key_and_index() {
        let good = alter_secrets::hash_admin_token("t");
        let issues = settings(&[&good, "not-a-hash"]).token_hashes().unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "config_api.admin_token_hashes[1]");
        assert!(issues[0].message.contains("sha256:"), "{}", issues[0]);
        assert_eq!(settings(&[&good]).token_hashes().unwrap().len(), 1);
    }

    #[test]
    fn token_hashes_accept_a_comma_separated_string() {
        let (a, b) = (
            alter_secrets::hash_admin_token("a"),
            alter_secrets::hash_admin_token("b"),
        );
        let json = serde_json::json!({ "admin_token_hashes": format!("{a}, {b}") });
        let s: Settings = serde_json::from_value(json).unwrap();
        assert_eq!(s.admin_token_hashes, vec![a, b]);
    }
}
