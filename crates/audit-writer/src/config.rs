//! `audit-writer` configuration: the shared sections plus `[audit_writer]`
//! (`ALTER_AUDIT_WRITER__<KEY>`): where it listens and how it batches appends.

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub audit_writer: Settings,
}

/// Largest batch accepted: one append is one transaction holding the app's chain lock.
pub const MAX_BATCH_SIZE: usize = 10_000;

/// The `[audit_writer]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC health and reflection.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// Records appended per batch at most (one store call per app per batch).
    pub batch_size: usize,
    /// How long a batch waits for more records after its first one, in milliseconds.
    pub batch_wait_ms: u64,
    /// After a failed append, how long JetStream waits before redelivering, in milliseconds.
    pub retry_delay_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50056)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9096)),
            batch_size: 256,
            batch_wait_ms: 50,
            retry_delay_ms: 1_000,
        }
    }
}

impl Settings {
    pub fn listen(&self) -> ServiceListen {
        ServiceListen::new(self.listen, self.admin_listen)
    }

    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batch_wait_ms)
    }

    pub fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }

    /// Checks every key of the section, naming the key and the accepted range.
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        self.listen().validate("audit_writer", issues);
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            issues.push(ConfigIssue::new(
                "audit_writer.batch_size",
                format!(
                    "is {}; give a number of records between 1 and {MAX_BATCH_SIZE} (256 is the default)",
                    self.batch_size
                ),
            ));
        }
        for (key, value, usual) in [
            ("batch_wait_ms", self.batch_wait_ms, 50),
            ("retry_delay_ms", self.retry_delay_ms, 1_000),
        ] {
            if value == 0 || value > 60_000 {
                issues.push(ConfigIssue::new(
                    format!("audit_writer.{key}"),
                    format!(
                        "is {value}; give a number of milliseconds between 1 and 60000 ({usual} is the default)"
                    ),
                ));
            }
        }
    }
}

impl Config {
    /// Loopback on port 0 with the given database and NATS: what tests use.
    pub fn for_tests(common: CommonSettings) -> Self {
        let any = ServiceListen::ephemeral();
        Self {
            common,
            audit_writer: Settings {
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
        self.audit_writer.validate(&mut issues);
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
    fn out_of_range_batching_is_rejected_naming_each_key() {
        let mut issues = vec![];
        Settings {
            batch_size: 0,
            batch_wait_ms: 0,
            retry_delay_ms: 60_001,
            ..Settings::default()
        }
        .validate(&mut issues);
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "audit_writer.batch_size",
                "audit_writer.batch_wait_ms",
                "audit_writer.retry_delay_ms"
            ]
        );
        assert!(
            issues[0].message.contains("between 1 and 10000"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn oversized_batch_is_rejected() {
        let mut issues = vec![];
        Settings {
            batch_size: MAX_BATCH_SIZE + 1,
            ..Settings::default()
        }
        .validate(&mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "audit_writer.batch_size");
    }
}
