//! `directory-sync` configuration: the shared sections plus `[directory_sync]`.

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub directory_sync: Settings,
}

/// The `[directory_sync]` section (`ALTER_DIRECTORY_SYNC__<KEY>`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC API, health and reflection.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50053)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9093)),
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
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            common,
            directory_sync: Settings {
                listen: any,
                admin_listen: any,
            },
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = vec![];
        self.common.validate(&mut issues);
        self.directory_sync
            .listen()
            .validate("directory_sync", &mut issues);
        issues
    }
}
