//! Loading and whole-tree validation.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem with one key, e.g. `database.url: is required (…)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be parsed into the typed tree.
    #[error(
        "configuration could not be read: {0} (keys come from {1} and ALTER_<SECTION>__<KEY> environment variables)"
    )]
    Parse(String, String),
    /// The tree parsed but some values are invalid; every invalid key is listed.
    #[error("configuration is invalid:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigIssue>),
}

/// Implemented by every service's config tree; returns every problem found, not just the first.
pub trait Validate {
    fn validate(&self) -> Vec<ConfigIssue>;
}

/// The file read when none is named: `$ALTER_CONFIG`, else `./alter.toml` (absent is fine).
fn default_file() -> PathBuf {
    std::env::var_os("ALTER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("alter.toml"))
}

/// Loads `T` from defaults (serde defaults on `T`), the config file and the environment.
pub fn load<T: DeserializeOwned + Validate>() -> Result<T, ConfigError> {
    load_from(&default_file(), Figment::new())
}

/// Loads `T` from `base` (e.g. test overrides merged last), then the file, then the environment.
pub fn load_from<T: DeserializeOwned + Validate>(
    file: &Path,
    overrides: Figment,
) -> Result<T, ConfigError> {
    let figment = Figment::new()
        .merge(Toml::file(file))
        .merge(Env::prefixed("ALTER_").split("__").ignore(&["config"]))
        .merge(overrides);
    extract(figment, file)
}

/// Loads `T` from `defaults` (e.g. `alter dev`'s ports and generated keys), then the default
/// file, then the environment: unlike [`load_from`]'s overrides, the file and environment win.
pub fn load_with_defaults<T: DeserializeOwned + Validate>(
    defaults: Figment,
) -> Result<T, ConfigError> {
    let file = default_file();
    let figment = defaults
        .merge(Toml::file(&file))
        .merge(Env::prefixed("ALTER_").split("__").ignore(&["config"]));
    extract(figment, &file)
}

/// The typed tree from `figment`, validated as a whole.
fn extract<T: DeserializeOwned + Validate>(
    figment: Figment,
    file: &Path,
) -> Result<T, ConfigError> {
    let config: T = figment
        .extract()
        .map_err(|e| ConfigError::Parse(e.to_string(), file.display().to_string()))?;
    let issues = config.validate();
    if issues.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sections::{DatabaseSettings, NatsSettings};
    use figment::providers::Serialized;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(default)]
        database: DatabaseSettings,
        #[serde(default)]
        nats: NatsSettings,
    }

    impl Validate for Sample {
        fn validate(&self) -> Vec<ConfigIssue> {
            let mut issues = vec![];
            self.database.validate(&mut issues);
            self.nats.validate(&mut issues);
            issues
        }
    }

    fn write_file(contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("alter-config-test-{}.toml", uuid_like()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn uuid_like() -> String {
        format!("{:?}-{}", std::thread::current().id(), std::process::id()).replace(['(', ')'], "")
    }

    #[test]
    fn file_values_are_read_and_overrides_win() {
        let path = write_file("[nats]\nurl = \"nats://file:4222\"\nprefix = \"fromfile.\"\n");
        let over = Figment::new().merge(Serialized::default("nats.prefix", "override."));
        let cfg: Sample = load_from(&path, over).unwrap();
        assert_eq!(cfg.nats.url, "nats://file:4222");
        assert_eq!(cfg.nats.prefix, "override.");
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn every_invalid_key_is_named() {
        let path = write_file("[nats]\nurl = \"http://nope\"\n[database]\nurl = \"mysql://x\"\n");
        let err = load_from::<Sample>(&path, Figment::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("nats.url"), "{text}");
        assert!(text.contains("database.url"), "{text}");
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn unknown_keys_in_a_section_are_refused_with_the_key_named() {
        let path = write_file("[nats]\nurll = \"nats://x\"\n");
        let err = load_from::<Sample>(&path, Figment::new()).unwrap_err();
        assert!(err.to_string().contains("urll"), "{err}");
        std::fs::remove_file(path).ok();
    }
}
