//! `alter migrate`: applies the PostgreSQL migrations and exits — what the Helm chart's
//! pre-install/pre-upgrade Job runs, so services can start with `database.migrate = false`.

use std::process::ExitCode;

use alter_config::{CommonSettings, ConfigIssue, Validate};
use serde::Deserialize;

/// The shared sections; only `[database]` is used.
#[derive(Debug, Deserialize)]
struct MigrateConfig {
    #[serde(flatten)]
    common: CommonSettings,
}

impl Validate for MigrateConfig {
    fn validate(&self) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        self.common.database.validate(&mut issues);
        issues
    }
}

pub fn run() -> ExitCode {
    let config = match alter_config::load::<MigrateConfig>() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("alter migrate: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alter migrate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(alter_runtime::migrate_postgres(&config.common.database)) {
        Ok(version) => {
            println!("migrations applied: the database is at version {version}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "alter migrate: {}",
                alter_runtime::error_chain(&e as &(dyn std::error::Error + 'static))
            );
            ExitCode::FAILURE
        }
    }
}
