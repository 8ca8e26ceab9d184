//! `signin` configuration: the shared sections (with `[public] signin_url`, required), the
//! verifier's `[jwt_verifier]` token settings (leeway, caches: ID tokens are checked exactly
//! as access tokens are) and `[signin]` (`ALTER_SIGNIN__<KEY>`).

use alter_config::{CommonSettings, ConfigIssue, ServiceListen, Validate};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    #[serde(default)]
    pub jwt_verifier: alter_jwt_verifier::Settings,
    #[serde(default)]
    pub signin: Settings,
}

/// The `[signin]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// HTTP for browsers (`/v1/signin/…`, through the ingress) and gRPC
    /// `alter.identity.v1.SignIn` for the app's backend (not routed by the ingress).
    pub listen: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_listen: SocketAddr,
    /// How long a started sign-in may take to come back from the identity provider,
    /// 60..=3600 seconds.
    pub flow_ttl_secs: u64,
    /// How long the app's backend has to redeem a result code, 10..=600 seconds.
    pub result_ttl_secs: u64,
    /// How long a Wallet session lasts, 300..=604800 seconds.
    pub wallet_session_secs: u64,
    /// Sign-in cookies are `Secure` and `__Host-` prefixed. Turn off only for plain-http
    /// development on a host that is not loopback (browsers treat loopback as secure).
    pub secure_cookies: bool,
    /// How long the identity provider's discovery document is reused, 0..=3600 seconds.
    pub discovery_cache_secs: u64,
    /// Timeout of each call to the identity provider (discovery, token endpoint), 1..=60 s.
    pub idp_timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8081)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 9097)),
            flow_ttl_secs: 600,
            result_ttl_secs: 60,
            wallet_session_secs: 8 * 3600,
            secure_cookies: true,
            discovery_cache_secs: 300,
            idp_timeout_secs: 10,
        }
    }
}

impl Settings {
    pub fn listen(&self) -> ServiceListen {
        ServiceListen::new(self.listen, self.admin_listen)
    }
}

impl Config {
    /// Loopback on port 0 with the given shared sections: what tests use.
    pub fn for_tests(common: CommonSettings) -> Self {
        let any = ServiceListen::ephemeral();
        Self {
            common,
            jwt_verifier: alter_jwt_verifier::Settings::default(),
            signin: Settings {
                listen: any.listen,
                admin_listen: any.admin_listen,
                ..Settings::default()
            },
        }
    }
}

fn check_range(
    issues: &mut Vec<ConfigIssue>,
    key: &str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) {
    if !range.contains(&value) {
        issues.push(ConfigIssue::new(
            key,
            format!(
                "is {value}; give {}..={} seconds ({default} is the default)",
                range.start(),
                range.end()
            ),
        ));
    }
}

impl Validate for Config {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = vec![];
        self.common.validate(&mut issues);
        self.signin.listen().validate("signin", &mut issues);
        if self.common.public.signin_url.is_none() {
            issues.push(ConfigIssue::new(
                "public.signin_url",
                "is required by the sign-in service: give the URL browsers reach it at through the ingress, e.g. https://alter.example.com (ALTER_PUBLIC__SIGNIN_URL)",
            ));
        }
        if self.common.secrets.master_key.is_none() {
            issues.push(ConfigIssue::new(
                alter_secrets::MASTER_KEY_CONFIG_KEY,
                "is required by the sign-in service: it opens the sealed client secrets and seals the state of sign-ins (the same key as config-api's)",
            ));
        }
        let d = Settings::default();
        let s = &self.signin;
        check_range(
            &mut issues,
            "signin.flow_ttl_secs",
            s.flow_ttl_secs,
            60..=3600,
            d.flow_ttl_secs,
        );
        check_range(
            &mut issues,
            "signin.result_ttl_secs",
            s.result_ttl_secs,
            10..=600,
            d.result_ttl_secs,
        );
        check_range(
            &mut issues,
            "signin.wallet_session_secs",
            s.wallet_session_secs,
            300..=604_800,
            d.wallet_session_secs,
        );
        check_range(
            &mut issues,
            "signin.discovery_cache_secs",
            s.discovery_cache_secs,
            0..=3600,
            d.discovery_cache_secs,
        );
        check_range(
            &mut issues,
            "signin.idp_timeout_secs",
            s.idp_timeout_secs,
            1..=60,
            d.idp_timeout_secs,
        );
        issues
    }
}
