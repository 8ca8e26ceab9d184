//! `directory-sync` configuration: the shared sections plus `[directory_sync]`
//! (`ALTER_DIRECTORY_SYNC__<KEY>`).

use std::net::SocketAddr;
use std::time::Duration;

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub directory_sync: Settings,
}

/// The `[directory_sync]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC health (and the internal `alter.directory.v1` service).
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// How often pending runs are looked for, in milliseconds (50..=60000).
    pub poll_ms: u64,
    /// Hours between scheduled runs of one IDP (R-DIR-03), 1..=168; 0 turns the schedule off.
    pub schedule_hours: u64,
    /// Up to this many minutes are added to each IDP's interval, the same for an IDP every
    /// time, so IDPs do not all sync at once (0..=720).
    pub schedule_jitter_minutes: u64,
    /// Seconds without a heartbeat after which a running run counts as abandoned (its worker
    /// died) and another worker may start the IDP afresh (30..=3600).
    pub stale_after_secs: u64,
    /// The safety valve (R-DIR-08): a run that would deprovision more than this share of the
    /// IDP's users (0.0..=1.0) ...
    pub max_deprovision_share: f64,
    /// ... and more than this many users is held for an admin's approval.
    pub deprovision_floor: u64,
    /// Requests per minute a run may send to one IDP (R-DIR-09); 0 uses each provider's
    /// default, below its published limit.
    pub requests_per_minute: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50053)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9093)),
            poll_ms: 1_000,
            schedule_hours: 6,
            schedule_jitter_minutes: 30,
            stale_after_secs: 120,
            max_deprovision_share: 0.10,
            deprovision_floor: 10,
            requests_per_minute: 0,
        }
    }
}

impl Settings {
    pub fn listen(&self) -> ServiceListen {
        ServiceListen::new(self.listen, self.admin_listen)
    }

    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }

    /// `None` when the schedule is off.
    pub fn schedule(&self) -> Option<Duration> {
        (self.schedule_hours > 0).then(|| Duration::from_secs(self.schedule_hours * 3600))
    }
}

impl Config {
    /// Loopback on port 0 with the given database and NATS: what tests use (a fast poll,
    /// no schedule).
    pub fn for_tests(common: CommonSettings) -> Self {
        let any = ServiceListen::ephemeral();
        Self {
            common,
            directory_sync: Settings {
                listen: any.listen,
                admin_listen: any.admin_listen,
                poll_ms: 50,
                schedule_hours: 0,
                ..Settings::default()
            },
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = vec![];
        self.common.validate(&mut issues);
        let s = &self.directory_sync;
        s.listen().validate("directory_sync", &mut issues);
        let mut range = |key: &str, value: u64, min: u64, max: u64, default: u64| {
            if !(min..=max).contains(&value) {
                issues.push(ConfigIssue::new(
                    format!("directory_sync.{key}"),
                    format!("is {value}; give {min}..={max} ({default} is the default)"),
                ));
            }
        };
        range("poll_ms", s.poll_ms, 50, 60_000, 1_000);
        range("schedule_hours", s.schedule_hours, 0, 168, 6);
        range(
            "schedule_jitter_minutes",
            s.schedule_jitter_minutes,
            0,
            720,
            30,
        );
        range("stale_after_secs", s.stale_after_secs, 30, 3_600, 120);
        if !(0.0..=1.0).contains(&s.max_deprovision_share) {
            issues.push(ConfigIssue::new(
                "directory_sync.max_deprovision_share",
                format!(
                    "is {}; give a share between 0.0 and 1.0 (0.1, ten per cent, is the default)",
                    s.max_deprovision_share
                ),
            ));
        }
        issues
    }
}
