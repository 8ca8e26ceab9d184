//! The configuration of a service whose own section holds only its two listen addresses.

/// Defines `Config` (the shared sections flattened in, plus `[$section]`) and `Settings`
/// (`listen`, `admin_listen`, with the given default ports) for a service that needs nothing
/// else yet; a service that grows settings of its own writes its `config.rs` by hand.
#[macro_export]
macro_rules! listen_only_config {
    ($section:ident, $port:literal, $admin_port:literal) => {
        /// The shared sections plus this service's own section.
        #[derive(Clone, Debug, serde::Deserialize)]
        pub struct Config {
            #[serde(flatten)]
            pub common: $crate::CommonSettings,
            #[serde(default)]
            pub $section: Settings,
        }

        /// This service's section: where it listens.
        #[derive(Clone, Debug, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Settings {
            /// The main port: gRPC (or HTTP), health and reflection.
            pub listen: std::net::SocketAddr,
            /// `/healthz`, `/readyz`, `/metrics`.
            pub admin_listen: std::net::SocketAddr,
        }

        impl Default for Settings {
            fn default() -> Self {
                Self {
                    listen: std::net::SocketAddr::from(([0, 0, 0, 0], $port)),
                    admin_listen: std::net::SocketAddr::from(([0, 0, 0, 0], $admin_port)),
                }
            }
        }

        impl Settings {
            pub fn listen(&self) -> $crate::ServiceListen {
                $crate::ServiceListen::new(self.listen, self.admin_listen)
            }
        }

        impl Config {
            /// Loopback on port 0 with the given database and NATS: what tests use.
            pub fn for_tests(common: $crate::CommonSettings) -> Self {
                let any = $crate::ServiceListen::ephemeral();
                Self {
                    common,
                    $section: Settings {
                        listen: any.listen,
                        admin_listen: any.admin_listen,
                    },
                }
            }
        }

        impl $crate::Validate for Config {
            fn validate(&self) -> Vec<$crate::ConfigIssue> {
                let mut issues = vec![];
                self.common.validate(&mut issues);
                self.$section
                    .listen()
                    .validate(stringify!($section), &mut issues);
                issues
            }
        }
    };
}
