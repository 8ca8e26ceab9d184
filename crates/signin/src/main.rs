//! The `signin` binary: configuration from `alter.toml` and `ALTER_…` environment variables.

fn main() -> std::process::ExitCode {
    alter_runtime::run_service::<alter_signin::Application>()
}
