//! `alter serve`: several services in one process, each on its own configured ports, all
//! stopped together on SIGTERM/Ctrl-C.

use alter_runtime::{CancellationToken, Service};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    ConfigApi,
    JwtVerifier,
    DirectorySync,
    WebhookIngest,
    GrantRevoker,
    AuditWriter,
}

impl ServiceName {
    const ALL: [ServiceName; 6] = [
        ServiceName::ConfigApi,
        ServiceName::JwtVerifier,
        ServiceName::DirectorySync,
        ServiceName::WebhookIngest,
        ServiceName::GrantRevoker,
        ServiceName::AuditWriter,
    ];
}

type Running = tokio::task::JoinHandle<Result<(), alter_runtime::BoxError>>;

async fn start<S: Service>(root: &CancellationToken) -> anyhow::Result<Running> {
    let config: S::Config =
        alter_config::load().map_err(|e| anyhow::anyhow!("{}: {e}", S::NAME))?;
    let service = S::build(config)
        .await
        .map_err(|e| anyhow::anyhow!("{} failed to start: {e}", S::NAME))?;
    println!(
        "{:<15} listening on :{:<5}  admin :{}",
        S::NAME,
        service.port(),
        service.admin_port()
    );
    let token = service.shutdown_token();
    let root = root.clone();
    tokio::spawn(async move {
        root.cancelled().await;
        token.cancel();
    });
    Ok(tokio::spawn(service.run_until_stopped()))
}

pub fn run(mut names: Vec<ServiceName>) -> ExitCode {
    if names.is_empty() {
        names = ServiceName::ALL.to_vec();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alter serve: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let common: alter_config::CommonSettings =
            match alter_config::load::<alter_config_api::Config>() {
                Ok(c) => c.common,
                Err(e) => {
                    eprintln!("alter serve: {e}");
                    return ExitCode::from(2);
                }
            };
        let _guard = match alter_telemetry::init("alter", &common.telemetry) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("alter serve: {e}");
                return ExitCode::from(2);
            }
        };
        let root = CancellationToken::new();
        alter_runtime::cancel_on_signals(root.clone());
        let mut running = vec![];
        for name in names {
            let started = match name {
                ServiceName::ConfigApi => start::<alter_config_api::Application>(&root).await,
                ServiceName::JwtVerifier => start::<alter_jwt_verifier::Application>(&root).await,
                ServiceName::DirectorySync => {
                    start::<alter_directory_sync::Application>(&root).await
                }
                ServiceName::WebhookIngest => {
                    start::<alter_webhook_ingest::Application>(&root).await
                }
                ServiceName::GrantRevoker => start::<alter_grant_revoker::Application>(&root).await,
                ServiceName::AuditWriter => start::<alter_audit_writer::Application>(&root).await,
            };
            match started {
                Ok(handle) => running.push(handle),
                Err(e) => {
                    eprintln!("alter serve: {e}");
                    root.cancel();
                    for handle in running {
                        let _ = handle.await;
                    }
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("all services started; Ctrl-C or SIGTERM stops them");
        // Whichever service stops first (or fails) stops the others.
        let mut set: tokio::task::JoinSet<_> = tokio::task::JoinSet::new();
        for handle in running {
            set.spawn(handle);
        }
        let mut code = ExitCode::SUCCESS;
        while let Some(joined) = set.join_next().await {
            root.cancel();
            let failure = match joined {
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(e))) => Some(format!("a service stopped with an error: {e}")),
                Ok(Err(e)) | Err(e) => Some(format!("a service task failed: {e}")),
            };
            if let Some(message) = failure {
                eprintln!("alter serve: {message}");
                code = ExitCode::FAILURE;
            }
        }
        code
    })
}
