//! `alter serve`: several services in one process, each on its own configured ports, all
//! stopped together on SIGTERM/Ctrl-C.

use alter_runtime::{CancellationToken, Deps, Service};
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

/// One service's configuration, loaded and validated before anything binds.
enum Loaded {
    ConfigApi(alter_config_api::Config),
    JwtVerifier(alter_jwt_verifier::Config),
    DirectorySync(alter_directory_sync::Config),
    WebhookIngest(alter_webhook_ingest::Config),
    GrantRevoker(alter_grant_revoker::Config),
    AuditWriter(alter_audit_writer::Config),
}

fn load<S: Service>() -> Result<S::Config, String> {
    alter_config::load::<S::Config>().map_err(|e| format!("{}: {e}", S::NAME))
}

impl Loaded {
    fn load(name: ServiceName) -> Result<Self, String> {
        use alter_audit_writer as aw;
        Ok(match name {
            ServiceName::ConfigApi => Self::ConfigApi(load::<alter_config_api::Application>()?),
            ServiceName::JwtVerifier => {
                Self::JwtVerifier(load::<alter_jwt_verifier::Application>()?)
            }
            ServiceName::DirectorySync => {
                Self::DirectorySync(load::<alter_directory_sync::Application>()?)
            }
            ServiceName::WebhookIngest => {
                Self::WebhookIngest(load::<alter_webhook_ingest::Application>()?)
            }
            ServiceName::GrantRevoker => {
                Self::GrantRevoker(load::<alter_grant_revoker::Application>()?)
            }
            ServiceName::AuditWriter => Self::AuditWriter(load::<aw::Application>()?),
        })
    }

    /// The shared sections (database, NATS, telemetry): the same file and environment feed
    /// every service, so any one's copy serves for the process.
    fn common(&self) -> &alter_config::CommonSettings {
        match self {
            Self::ConfigApi(c) => &c.common,
            Self::JwtVerifier(c) => &c.common,
            Self::DirectorySync(c) => &c.common,
            Self::WebhookIngest(c) => &c.common,
            Self::GrantRevoker(c) => &c.common,
            Self::AuditWriter(c) => &c.common,
        }
    }

    async fn start(self, deps: &Deps, root: &CancellationToken) -> anyhow::Result<Running> {
        let deps = deps.clone();
        match self {
            Self::ConfigApi(c) => start::<alter_config_api::Application>(c, deps, root).await,
            Self::JwtVerifier(c) => start::<alter_jwt_verifier::Application>(c, deps, root).await,
            Self::DirectorySync(c) => {
                start::<alter_directory_sync::Application>(c, deps, root).await
            }
            Self::WebhookIngest(c) => {
                start::<alter_webhook_ingest::Application>(c, deps, root).await
            }
            Self::GrantRevoker(c) => start::<alter_grant_revoker::Application>(c, deps, root).await,
            Self::AuditWriter(c) => start::<alter_audit_writer::Application>(c, deps, root).await,
        }
    }
}

async fn start<S: Service>(
    config: S::Config,
    deps: Deps,
    root: &CancellationToken,
) -> anyhow::Result<Running> {
    let service = S::build_with(config, deps).await.map_err(|e| {
        anyhow::anyhow!(
            "{} failed to start: {}",
            S::NAME,
            alter_runtime::error_chain(e.as_ref())
        )
    })?;
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
        // Every service's configuration is loaded and validated before anything binds, so
        // a mistake in one is reported with all the others' and nothing is left half-started.
        let mut loaded = Vec::with_capacity(names.len());
        let mut problems = Vec::new();
        for name in names {
            match Loaded::load(name) {
                Ok(config) => loaded.push(config),
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            for problem in problems {
                eprintln!("alter serve: {problem}");
            }
            return ExitCode::from(2);
        }
        let Some(first) = loaded.first() else {
            eprintln!("alter serve: no service to run");
            return ExitCode::from(2);
        };
        let common = first.common().clone();
        let _guard = match alter_telemetry::init("alter", &common.telemetry) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("alter serve: {e}");
                return ExitCode::from(2);
            }
        };
        // One pool and one NATS connection for every service of the process.
        let deps = match Deps::connect("alter", &common).await {
            Ok(deps) => deps,
            Err(e) => {
                eprintln!(
                    "alter serve: {}",
                    alter_runtime::error_chain(&e as &(dyn std::error::Error + 'static))
                );
                return ExitCode::FAILURE;
            }
        };
        let root = CancellationToken::new();
        alter_runtime::cancel_on_signals(root.clone());
        let mut running = vec![];
        for config in loaded {
            match config.start(&deps, &root).await {
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
