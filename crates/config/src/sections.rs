//! The sections every service shares: database, NATS, telemetry and its listen addresses.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;

use crate::load::ConfigIssue;

/// PostgreSQL connection. The URL carries a password, so it is a secret and never logged.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    /// Apply the embedded migrations at start (idempotent, serialised by an advisory lock).
    pub migrate: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://alter:alter@127.0.0.1:5432/alter"),
            max_connections: 16,
            min_connections: 1,
            acquire_timeout_ms: 5_000,
            migrate: true,
        }
    }
}

impl DatabaseSettings {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        let url = self.url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            issues.push(ConfigIssue::new(
                "database.url",
                "must be a postgres:// URL, e.g. postgres://alter:secret@db:5432/alter (set ALTER_DATABASE__URL)",
            ));
        }
        if self.max_connections == 0 {
            issues.push(ConfigIssue::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.min_connections > self.max_connections {
            issues.push(ConfigIssue::new(
                "database.min_connections",
                format!(
                    "is {} but database.max_connections is {}; lower it",
                    self.min_connections, self.max_connections
                ),
            ));
        }
    }
}

/// NATS JetStream connection. `prefix` is prepended to every subject and stream name, so
/// several deployments (or tests) can share one server.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsSettings {
    pub url: String,
    pub prefix: String,
    /// Copies of each JetStream stream, 1..=5: 3 on a three-node cluster (an existing
    /// stream with fewer is scaled up at start), 1 on a single server.
    pub stream_replicas: usize,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            prefix: String::new(),
            stream_replicas: 1,
        }
    }
}

impl NatsSettings {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if !(self.url.starts_with("nats://") || self.url.starts_with("tls://")) {
            issues.push(ConfigIssue::new(
                "nats.url",
                "must be a nats:// or tls:// URL, e.g. nats://nats:4222",
            ));
        }
        if !self.prefix.is_empty()
            && !self
                .prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            issues.push(ConfigIssue::new(
                "nats.prefix",
                "may contain only ASCII letters, digits, '_', '-' and '.' (it becomes part of subject and stream names)",
            ));
        }
        if !(1..=5).contains(&self.stream_replicas) {
            issues.push(ConfigIssue::new(
                "nats.stream_replicas",
                format!(
                    "is {}; give 1..=5 (3 on a three-node JetStream cluster, 1 on a single server)",
                    self.stream_replicas
                ),
            ));
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default; what log pipelines want).
    #[default]
    Json,
    /// Human-readable lines for local development.
    Pretty,
}

/// Logs, traces and metrics.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// An `EnvFilter` directive, e.g. `info` or `info,alter_jwt_verifier=debug`.
    pub log_level: String,
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint, e.g. `http://otel-collector:4317`; traces are exported only when set.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_level: "info,sqlx=warn".to_owned(),
            log_format: LogFormat::Json,
            otlp_endpoint: None,
        }
    }
}

impl TelemetrySettings {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if let Some(ep) = &self.otlp_endpoint
            && !(ep.starts_with("http://") || ep.starts_with("https://"))
        {
            issues.push(ConfigIssue::new(
                "telemetry.otlp_endpoint",
                format!("must be an http(s):// URL such as http://otel-collector:4317; got {ep:?}"),
            ));
        }
        if self.log_level.trim().is_empty() {
            issues.push(ConfigIssue::new(
                "telemetry.log_level",
                "must not be empty; use e.g. info",
            ));
        }
    }
}

/// Where a service listens: its main port (gRPC, or HTTP for webhook-ingest) and its admin
/// port (`/healthz`, `/readyz`, `/metrics`). Port 0 picks a free port (tests).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceListen {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
}

impl ServiceListen {
    pub fn new(listen: SocketAddr, admin_listen: SocketAddr) -> Self {
        Self {
            listen,
            admin_listen,
        }
    }

    /// Loopback, port 0 for both: what tests use.
    pub fn ephemeral() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            listen: any,
            admin_listen: any,
        }
    }

    pub fn validate(&self, section: &str, issues: &mut Vec<ConfigIssue>) {
        if self.listen.port() != 0 && self.listen == self.admin_listen {
            issues.push(ConfigIssue::new(
                format!("{section}.admin_listen"),
                format!("is the same address as {section}.listen ({}); give the admin endpoints their own port", self.listen),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_must_be_postgres() {
        let mut issues = vec![];
        let db = DatabaseSettings {
            url: SecretString::from("mysql://x"),
            ..Default::default()
        };
        db.validate(&mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "database.url");
    }

    #[test]
    fn database_settings_debug_hides_the_password() {
        let db = DatabaseSettings {
            url: SecretString::from("postgres://u:hunter2@h/d"),
            ..Default::default()
        };
        assert!(!format!("{db:?}").contains("hunter2"));
    }

    #[test]
    fn nats_prefix_characters_are_checked() {
        let mut issues = vec![];
        NatsSettings {
            prefix: "bad prefix*".into(),
            ..Default::default()
        }
        .validate(&mut issues);
        assert_eq!(issues[0].key, "nats.prefix");
    }

    #[test]
    fn same_listen_and_admin_port_is_rejected() {
        let mut issues = vec![];
        let a: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        ServiceListen::new(a, a).validate("jwt_verifier", &mut issues);
        assert_eq!(issues[0].key, "jwt_verifier.admin_listen");
    }
}

/// The sections every service reads; each service's config flattens this in beside its own
/// section (`[jwt_verifier]`, `[config_api]`, …) so one `alter.toml` serves them all.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CommonSettings {
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub nats: NatsSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    #[serde(default)]
    pub outbox: OutboxSettings,
    #[serde(default)]
    pub secrets: SecretsSettings,
    #[serde(default)]
    pub public: PublicSettings,
}

/// Where browsers reach Alter through the ingress (`[public]`, `ALTER_PUBLIC__<KEY>`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublicSettings {
    /// The sign-in service's public base URL, e.g. `https://alter.example.com`: the sign-in
    /// redirect URIs and the Wallet logout URL are derived from it (config-api shows them,
    /// the sign-in service sends them). Required to configure or serve OIDC sign-in.
    pub signin_url: Option<String>,
}

/// The operator's master keys (R-CFG-11): secrets whose value must be recovered (Clerk's
/// webhook signing secret, Okta's webhook `Authorization`, directory credentials) are sealed
/// with `master_key`; retired keys still open what they sealed. Keys are 32 random bytes,
/// base64 or hex (`alter secrets gen-key`), never logged.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsSettings {
    pub master_key: Option<alter_secrets::MasterKey>,
    pub previous_master_keys: Vec<alter_secrets::MasterKey>,
}

impl SecretsSettings {
    /// The keyring, or `None` when no master key is configured (sealing is then refused with
    /// an error naming `secrets.master_key`).
    pub fn keyring(&self) -> Option<alter_secrets::Keyring> {
        self.master_key.clone().map(|current| {
            alter_secrets::Keyring::new(current).with_previous(self.previous_master_keys.clone())
        })
    }
}

impl CommonSettings {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        self.database.validate(issues);
        self.nats.validate(issues);
        self.telemetry.validate(issues);
        self.outbox.validate(issues);
        if let Some(url) = &self.public.signin_url
            && let Err(e) = alter_core::sign_in::check_public_url("public.signin_url", url)
        {
            issues.push(ConfigIssue::new(e.field, e.message));
        }
        if self.secrets.master_key.is_none() && !self.secrets.previous_master_keys.is_empty() {
            issues.push(ConfigIssue::new(
                "secrets.master_key",
                "is required when secrets.previous_master_keys is set: the current key seals, retired keys only open",
            ));
        }
    }
}

/// The outbox relay every process that changes state runs: it publishes what each change
/// wrote to the outbox (audit records, cache invalidations) to NATS, at least once.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxSettings {
    /// Run this process's relay. Turn it off only where another process relays the same
    /// database (changes then reach the bus at that relay's next poll).
    pub relay: bool,
    /// How often the outbox is checked for messages written by other processes, 10..=60000 ms
    /// (a change made in this process wakes its relay at once).
    pub poll_ms: u64,
    /// Messages published per round, 1..=10000.
    pub batch_size: u32,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            relay: true,
            poll_ms: 1000,
            batch_size: 256,
        }
    }
}

impl OutboxSettings {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if !(10..=60_000).contains(&self.poll_ms) {
            issues.push(ConfigIssue::new(
                "outbox.poll_ms",
                format!("is {}; give a number of milliseconds between 10 and 60000 (1000 is the default)", self.poll_ms),
            ));
        }
        if !(1..=10_000).contains(&self.batch_size) {
            issues.push(ConfigIssue::new(
                "outbox.batch_size",
                format!(
                    "is {}; give a number of messages between 1 and 10000 (256 is the default)",
                    self.batch_size
                ),
            ));
        }
    }
}
