//! `alter serve`: several services in one process, each on its own configured ports, all
//! stopped together on SIGTERM/Ctrl-C.

use alter_runtime::{CancellationToken, Deps, Service};
use figment::Figment;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceName {
    ConfigApi,
    JwtVerifier,
    DirectorySync,
    WebhookIngest,
    GrantRevoker,
    AuditWriter,
    Signin,
}

impl ServiceName {
    pub const ALL: [ServiceName; 7] = [
        ServiceName::ConfigApi,
        ServiceName::JwtVerifier,
        ServiceName::DirectorySync,
        ServiceName::WebhookIngest,
        ServiceName::GrantRevoker,
        ServiceName::AuditWriter,
        ServiceName::Signin,
    ];
}

pub type Running = tokio::task::JoinHandle<Result<(), alter_runtime::BoxError>>;

/// One service's configuration, loaded and validated before anything binds.
pub enum Loaded {
    ConfigApi(alter_config_api::Config),
    JwtVerifier(alter_jwt_verifier::Config),
    DirectorySync(alter_directory_sync::Config),
    WebhookIngest(alter_webhook_ingest::Config),
    GrantRevoker(alter_grant_revoker::Config),
    AuditWriter(alter_audit_writer::Config),
    Signin(alter_signin::Config),
}

fn load<S: Service>(defaults: Option<&Figment>) -> Result<S::Config, String> {
    match defaults {
        None => alter_config::load::<S::Config>(),
        Some(defaults) => alter_config::load_with_defaults::<S::Config>(defaults.clone()),
    }
    .map_err(|e| format!("{}: {e}", S::NAME))
}

impl Loaded {
    fn load(name: ServiceName, defaults: Option<&Figment>) -> Result<Self, String> {
        use alter_audit_writer as aw;
        let d = defaults;
        Ok(match name {
            ServiceName::ConfigApi => Self::ConfigApi(load::<alter_config_api::Application>(d)?),
            ServiceName::JwtVerifier => {
                Self::JwtVerifier(load::<alter_jwt_verifier::Application>(d)?)
            }
            ServiceName::DirectorySync => {
                Self::DirectorySync(load::<alter_directory_sync::Application>(d)?)
            }
            ServiceName::WebhookIngest => {
                Self::WebhookIngest(load::<alter_webhook_ingest::Application>(d)?)
            }
            ServiceName::GrantRevoker => {
                Self::GrantRevoker(load::<alter_grant_revoker::Application>(d)?)
            }
            ServiceName::AuditWriter => Self::AuditWriter(load::<aw::Application>(d)?),
            ServiceName::Signin => Self::Signin(load::<alter_signin::Application>(d)?),
        })
    }

    /// The shared sections (database, NATS, telemetry): the same file and environment feed
    /// every service, so any one's copy serves for the process.
    pub fn common(&self) -> &alter_config::CommonSettings {
        match self {
            Self::ConfigApi(c) => &c.common,
            Self::JwtVerifier(c) => &c.common,
            Self::DirectorySync(c) => &c.common,
            Self::WebhookIngest(c) => &c.common,
            Self::GrantRevoker(c) => &c.common,
            Self::AuditWriter(c) => &c.common,
            Self::Signin(c) => &c.common,
        }
    }

    async fn start(self, deps: &Deps, root: &CancellationToken) -> anyhow::Result<Started> {
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
            Self::Signin(c) => start::<alter_signin::Application>(c, deps, root).await,
        }
    }
}

/// A service started on a background task, with the ports it bound.
pub struct Started {
    pub name: &'static str,
    pub port: u16,
    pub admin_port: u16,
    pub task: Running,
}

async fn start<S: Service>(
    config: S::Config,
    deps: Deps,
    root: &CancellationToken,
) -> anyhow::Result<Started> {
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
    let (port, admin_port) = (service.port(), service.admin_port());
    let token = service.shutdown_token();
    let root = root.clone();
    tokio::spawn(async move {
        root.cancelled().await;
        token.cancel();
    });
    Ok(Started {
        name: S::NAME,
        port,
        admin_port,
        task: tokio::spawn(service.run_until_stopped()),
    })
}

/// What `alter serve` runs when no service is named: all of them, the sign-in service only
/// when `public.signin_url` is configured (OIDC sign-in is optional).
fn default_services() -> Vec<ServiceName> {
    let sign_in_configured = alter_config::load::<alter_audit_writer::Config>()
        .map(|c| c.common.public.signin_url.is_some())
        .unwrap_or(false);
    if !sign_in_configured {
        println!(
            "signin          not started: set public.signin_url (and secrets.master_key) to serve OIDC sign-in"
        );
    }
    ServiceName::ALL
        .into_iter()
        .filter(|name| *name != ServiceName::Signin || sign_in_configured)
        .collect()
}

pub fn run(mut names: Vec<ServiceName>) -> ExitCode {
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
        if names.is_empty() {
            names = default_services();
        }
        let loaded = match load_all(&names, None) {
            Ok(loaded) => loaded,
            Err(problems) => {
                for problem in problems {
                    eprintln!("alter serve: {problem}");
                }
                return ExitCode::from(2);
            }
        };
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
        let running = match start_all(loaded, &deps, &root).await {
            Ok(running) => running,
            Err(e) => {
                eprintln!("alter serve: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("all services started; Ctrl-C or SIGTERM stops them");
        wait_all(
            running.into_iter().map(|s| s.task).collect(),
            &root,
            "alter serve",
        )
        .await
    })
}

/// Every named service's configuration, loaded and validated before anything binds, so a
/// mistake in one is reported with all the others' and nothing is left half-started.
pub fn load_all(
    names: &[ServiceName],
    defaults: Option<&Figment>,
) -> Result<Vec<Loaded>, Vec<String>> {
    let mut loaded = Vec::with_capacity(names.len());
    let mut problems = Vec::new();
    for name in names {
        match Loaded::load(*name, defaults) {
            Ok(config) => loaded.push(config),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems)
    }
}

/// Builds and starts every service on `deps`, each stopped when `root` is cancelled; if one
/// fails to start, the ones already running are stopped.
pub async fn start_all(
    loaded: Vec<Loaded>,
    deps: &Deps,
    root: &CancellationToken,
) -> anyhow::Result<Vec<Started>> {
    let mut running: Vec<Started> = vec![];
    for config in loaded {
        match config.start(deps, root).await {
            Ok(handle) => running.push(handle),
            Err(e) => {
                root.cancel();
                for started in running {
                    let _ = started.task.await;
                }
                return Err(e);
            }
        }
    }
    Ok(running)
}

/// Waits for the services; whichever stops first (or fails) stops the others.
pub async fn wait_all(running: Vec<Running>, root: &CancellationToken, who: &str) -> ExitCode {
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
            eprintln!("{who}: {message}");
            code = ExitCode::FAILURE;
        }
    }
    code
}
