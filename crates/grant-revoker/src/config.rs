//! `grant-revoker` configuration: the shared sections plus `[grant_revoker]`
//! (`ALTER_GRANT_REVOKER__<KEY>`): where it listens, how many events it applies at once, and
//! how it waits when the database fails.

use std::net::SocketAddr;
use std::time::Duration;

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub grant_revoker: Settings,
}

/// Most lanes accepted: each holds one database connection while it applies an event.
pub const MAX_LANES: usize = 64;

/// The `[grant_revoker]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC health and reflection.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// Events applied at once. Events about the same user or group always go to the same lane,
    /// one after the other, in delivery order.
    pub lanes: usize,
    /// After a failed apply, the first wait before it is tried again, in milliseconds; the
    /// wait doubles on each failure up to `max_retry_delay_ms`.
    pub retry_delay_ms: u64,
    /// The longest wait between two tries of one event, in milliseconds (at most 20000: the
    /// event is kept from redelivery by a progress signal before each wait, and JetStream's
    /// ack wait is 30 s).
    pub max_retry_delay_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50055)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9095)),
            lanes: 8,
            retry_delay_ms: 200,
            max_retry_delay_ms: 10_000,
        }
    }
}

impl Settings {
    pub fn listen(&self) -> ServiceListen {
        ServiceListen::new(self.listen, self.admin_listen)
    }

    pub fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }

    pub fn max_retry_delay(&self) -> Duration {
        Duration::from_millis(self.max_retry_delay_ms.max(self.retry_delay_ms))
    }

    /// Checks every key of the section, naming the key and the accepted range.
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        self.listen().validate("grant_revoker", issues);
        if self.lanes == 0 || self.lanes > MAX_LANES {
            issues.push(ConfigIssue::new(
                "grant_revoker.lanes",
                format!(
                    "is {}; give a number of lanes between 1 and {MAX_LANES} (8 is the default), \
                     and at most database.max_connections",
                    self.lanes
                ),
            ));
        }
        if self.retry_delay_ms == 0 || self.retry_delay_ms > 20_000 {
            issues.push(ConfigIssue::new(
                "grant_revoker.retry_delay_ms",
                format!(
                    "is {}; give a number of milliseconds between 1 and 20000 (200 is the default)",
                    self.retry_delay_ms
                ),
            ));
        }
        if self.max_retry_delay_ms < self.retry_delay_ms || self.max_retry_delay_ms > 20_000 {
            issues.push(ConfigIssue::new(
                "grant_revoker.max_retry_delay_ms",
                format!(
                    "is {}; give a number of milliseconds between grant_revoker.retry_delay_ms ({}) \
                     and 20000 (10000 is the default)",
                    self.max_retry_delay_ms, self.retry_delay_ms
                ),
            ));
        }
    }
}

impl Config {
    /// Loopback on port 0 with the given database and NATS: what tests use.
    pub fn for_tests(common: CommonSettings) -> Self {
        let any = ServiceListen::ephemeral();
        Self {
            common,
            grant_revoker: Settings {
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
        self.grant_revoker.validate(&mut issues);
        issues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let mut issues = vec![];
        Settings::default().validate(&mut issues);
        assert!(issues.is_empty(), "{issues:?}");
    }

    #[test]
    fn out_of_range_settings_are_rejected_naming_each_key() {
        let mut issues = vec![];
        Settings {
            lanes: 0,
            retry_delay_ms: 0,
            max_retry_delay_ms: 20_001,
            ..Settings::default()
        }
        .validate(&mut issues);
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "grant_revoker.lanes",
                "grant_revoker.retry_delay_ms",
                "grant_revoker.max_retry_delay_ms"
            ]
        );
        let mut issues = vec![];
        Settings {
            lanes: MAX_LANES + 1,
            retry_delay_ms: 500,
            max_retry_delay_ms: 100,
            ..Settings::default()
        }
        .validate(&mut issues);
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["grant_revoker.lanes", "grant_revoker.max_retry_delay_ms"]
        );
    }
}
