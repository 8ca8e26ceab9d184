//! Configuration: one typed tree per service, loaded with figment from embedded defaults, then
//! `alter.toml` (or the file named by `ALTER_CONFIG`), then `ALTER_<SECTION>__<KEY>` environment
//! variables, and validated as a whole before anything binds — every problem names its key.

mod listen_only;
mod load;
mod sections;

pub use load::{ConfigError, ConfigIssue, Validate, load, load_from, load_with_defaults};
pub use sections::{
    CommonSettings, DatabaseSettings, LogFormat, NatsSettings, OutboxSettings, PublicSettings,
    SecretsSettings, ServiceListen, TelemetrySettings,
};
