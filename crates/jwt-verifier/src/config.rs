//! `jwt-verifier` configuration: the shared sections plus `[jwt_verifier]`.

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use alter_core::ClaimLimits;
use alter_providers::DEFAULT_MAX_STALE;
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub jwt_verifier: Settings,
}

/// Largest clock-skew allowance accepted (R-JWT-03: the leeway must stay small).
pub const MAX_LEEWAY_SECS: u64 = 300;

/// Longest stale window accepted for cached keys (R-JWT-11: the window is bounded): 7 days.
pub const MAX_JWKS_MAX_STALE_SECS: u64 = 7 * 24 * 60 * 60;

/// The `[jwt_verifier]` section (`ALTER_JWT_VERIFIER__<KEY>`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// gRPC API, health and reflection.
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (R-JWT-03), 0..=300 seconds.
    pub leeway_secs: u64,
    /// Verified tokens kept in memory (by token digest, until `exp`).
    pub token_cache_capacity: usize,
    /// Resolved users (user, groups, grants) kept in memory.
    pub user_cache_capacity: usize,
    /// How often each IDP's JWKS is refreshed ahead of need.
    pub jwks_refresh_secs: u64,
    /// At most one JWKS refetch per IDP this often when a token names an unknown `kid` (R-JWT-05).
    pub jwks_unknown_kid_min_interval_secs: u64,
    /// Timeout of one JWKS fetch.
    pub jwks_fetch_timeout_secs: u64,
    /// Identity providers (one per app) kept in memory.
    pub idp_cache_capacity: usize,
    /// The longest a cached answer or resolved user is served before it is read again, a
    /// backstop behind event invalidation (R-JWT-10), 1..=3600 seconds.
    pub cache_max_age_secs: u64,
    /// How long past their freshness an IDP's cached keys keep serving while its JWKS cannot
    /// be fetched (R-JWT-11); past it, Verify answers UNAVAILABLE for that IDP. 0..=604800.
    pub jwks_max_stale_secs: u64,
    /// Most entries a token's group claim may list; a token with more is refused as
    /// malformed rather than creating that many groups in one Verify. 1..=100000.
    pub max_group_claim_entries: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50052)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9092)),
            leeway_secs: 60,
            token_cache_capacity: 100_000,
            user_cache_capacity: 100_000,
            jwks_refresh_secs: 300,
            jwks_unknown_kid_min_interval_secs: 10,
            jwks_fetch_timeout_secs: 5,
            idp_cache_capacity: 10_000,
            cache_max_age_secs: 300,
            jwks_max_stale_secs: DEFAULT_MAX_STALE.as_secs(),
            max_group_claim_entries: ClaimLimits::DEFAULT_MAX_GROUP_ENTRIES,
        }
    }
}

impl Settings {
    pub fn listen(&self) -> ServiceListen {
        ServiceListen::new(self.listen, self.admin_listen)
    }

    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.leeway_secs)
    }

    pub fn cache_max_age(&self) -> Duration {
        Duration::from_secs(self.cache_max_age_secs)
    }

    /// The bounds claim extraction applies to every token.
    pub fn claim_limits(&self) -> ClaimLimits {
        ClaimLimits {
            max_group_entries: self.max_group_claim_entries,
        }
    }

    /// Checks every key of the section, naming the key and the accepted range.
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        self.listen().validate("jwt_verifier", issues);
        self.validate_max_age(issues);
        if self.leeway_secs > MAX_LEEWAY_SECS {
            issues.push(ConfigIssue::new(
                "jwt_verifier.leeway_secs",
                format!(
                    "is {}; the clock-skew leeway must be at most {MAX_LEEWAY_SECS} seconds (60 is usual)",
                    self.leeway_secs
                ),
            ));
        }
        for (key, value) in [
            ("token_cache_capacity", self.token_cache_capacity),
            ("user_cache_capacity", self.user_cache_capacity),
            ("idp_cache_capacity", self.idp_cache_capacity),
        ] {
            if value == 0 {
                issues.push(ConfigIssue::new(
                    format!("jwt_verifier.{key}"),
                    "must be at least 1 (the number of entries kept in memory); 100000 is the default",
                ));
            }
        }
        for (key, value) in [
            ("jwks_refresh_secs", self.jwks_refresh_secs),
            (
                "jwks_unknown_kid_min_interval_secs",
                self.jwks_unknown_kid_min_interval_secs,
            ),
            ("jwks_fetch_timeout_secs", self.jwks_fetch_timeout_secs),
        ] {
            if value == 0 || value > 86_400 {
                issues.push(ConfigIssue::new(
                    format!("jwt_verifier.{key}"),
                    format!("is {value}; give a number of seconds between 1 and 86400"),
                ));
            }
        }
        if self.max_group_claim_entries == 0 || self.max_group_claim_entries > 100_000 {
            issues.push(ConfigIssue::new(
                "jwt_verifier.max_group_claim_entries",
                format!(
                    "is {}; give the most groups one token may list, between 1 and 100000 (1000 is the default)",
                    self.max_group_claim_entries
                ),
            ));
        }
        if self.jwks_max_stale_secs > MAX_JWKS_MAX_STALE_SECS {
            issues.push(ConfigIssue::new(
                "jwt_verifier.jwks_max_stale_secs",
                format!(
                    "is {}; cached keys may be trusted at most {MAX_JWKS_MAX_STALE_SECS} seconds (7 days) past their freshness while the JWKS is down; 86400 (24 h) is the default",
                    self.jwks_max_stale_secs
                ),
            ));
        }
    }
}

impl Settings {
    fn validate_max_age(&self, issues: &mut Vec<ConfigIssue>) {
        if self.cache_max_age_secs == 0 || self.cache_max_age_secs > 3600 {
            issues.push(ConfigIssue::new(
                "jwt_verifier.cache_max_age_secs",
                format!(
                    "is {}; give a number of seconds between 1 and 3600 (300 is the default): \
                     invalidation events keep caches current, this only bounds how long an answer can outlive a lost one",
                    self.cache_max_age_secs
                ),
            ));
        }
    }
}

impl Config {
    /// Loopback on port 0 with the given database and NATS: what tests use.
    pub fn for_tests(common: CommonSettings) -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            common,
            jwt_verifier: Settings {
                listen: any,
                admin_listen: any,
                ..Settings::default()
            },
        }
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = vec![];
        self.common.validate(&mut issues);
        self.jwt_verifier.validate(&mut issues);
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
    fn r_jwt_03_leeway_above_five_minutes_is_rejected_naming_the_key() {
        let mut issues = vec![];
        Settings {
            leeway_secs: 301,
            ..Settings::default()
        }
        .validate(&mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "jwt_verifier.leeway_secs");
        assert!(
            issues[0].message.contains("at most 300"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn zero_capacities_and_intervals_are_rejected_naming_each_key() {
        let mut issues = vec![];
        Settings {
            token_cache_capacity: 0,
            user_cache_capacity: 0,
            jwks_refresh_secs: 0,
            jwks_unknown_kid_min_interval_secs: 0,
            ..Settings::default()
        }
        .validate(&mut issues);
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "jwt_verifier.token_cache_capacity",
                "jwt_verifier.user_cache_capacity",
                "jwt_verifier.jwks_refresh_secs",
                "jwt_verifier.jwks_unknown_kid_min_interval_secs"
            ]
        );
    }

    #[test]
    fn r_jwt_11_the_stale_window_defaults_to_24_hours_and_is_bounded() {
        assert_eq!(Settings::default().jwks_max_stale_secs, 86_400);
        let mut issues = vec![];
        Settings {
            jwks_max_stale_secs: 0,
            ..Settings::default()
        }
        .validate(&mut issues);
        assert!(
            issues.is_empty(),
            "0 (never serve stale keys) is allowed: {issues:?}"
        );
        Settings {
            jwks_max_stale_secs: MAX_JWKS_MAX_STALE_SECS + 1,
            ..Settings::default()
        }
        .validate(&mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "jwt_verifier.jwks_max_stale_secs");
        assert!(
            issues[0].message.contains("at most 604800"),
            "{}",
            issues[0].message
        );
    }

    #[test]
    fn r_jwt_07_the_group_claim_cap_defaults_to_1000_and_is_bounded() {
        assert_eq!(Settings::default().claim_limits().max_group_entries, 1_000);
        for bad in [0, 100_001] {
            let mut issues = vec![];
            Settings {
                max_group_claim_entries: bad,
                ..Settings::default()
            }
            .validate(&mut issues);
            assert_eq!(issues.len(), 1, "{bad}");
            assert_eq!(issues[0].key, "jwt_verifier.max_group_claim_entries");
            assert!(
                issues[0].message.contains("between 1 and 100000"),
                "{}",
                issues[0].message
            );
        }
    }
}
