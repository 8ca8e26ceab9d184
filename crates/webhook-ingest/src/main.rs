//! The `webhook-ingest` binary: configuration from `alter.toml` and `ALTER_…` environment variables.

fn main() -> std::process::ExitCode {
    alter_runtime::run_service::<alter_webhook_ingest::Application>()
}
