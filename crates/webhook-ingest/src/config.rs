//! `webhook-ingest` configuration: the shared sections plus `[webhook_ingest]`
//! (`ALTER_WEBHOOK_INGEST__<KEY>`).

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub webhook_ingest: Settings,
}

/// The `[webhook_ingest]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// HTTP: `POST /v1/webhooks/{idp_id}`, Okta's verification `GET`, gRPC health.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// Largest delivery body accepted (413 above it), 1024..=16777216 bytes.
    pub max_body_bytes: usize,
    /// Longest an endpoint's settings are served from memory without a database read,
    /// 0..=300 seconds (0: read on every delivery). Changes made through config-api reach
    /// every replica at once through invalidations; this bounds a missed one.
    pub endpoint_cache_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9094)),
            max_body_bytes: 1024 * 1024,
            endpoint_cache_secs: 10,
        }
    }
}

impl Settings {
    pub fn listen(&self) -> ServiceListen {
        ServiceListen::new(self.listen, self.admin_listen)
    }
}

impl Config {
    /// Loopback on port 0 with the given database and NATS: what tests use.
    pub fn for_tests(common: CommonSettings) -> Self {
        let any = ServiceListen::ephemeral();
        Self {
            common,
            webhook_ingest: Settings {
                listen: any.listen,
                admin_listen: any.admin_listen,
                ..Settings::default()
            },
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = vec![];
        self.common.validate(&mut issues);
        self.webhook_ingest
            .listen()
            .validate("webhook_ingest", &mut issues);
        if !(1024..=16 * 1024 * 1024).contains(&self.webhook_ingest.max_body_bytes) {
            issues.push(ConfigIssue::new(
                "webhook_ingest.max_body_bytes",
                format!(
                    "is {}; give a size in bytes between 1024 and 16777216 (1048576 is the default)",
                    self.webhook_ingest.max_body_bytes
                ),
            ));
        }
        if self.webhook_ingest.endpoint_cache_secs > 300 {
            issues.push(ConfigIssue::new(
                "webhook_ingest.endpoint_cache_secs",
                format!(
                    "is {}; give 0..=300 seconds (10 is the default, 0 reads the settings on every delivery)",
                    self.webhook_ingest.endpoint_cache_secs
                ),
            ));
        }
        issues
    }
}
