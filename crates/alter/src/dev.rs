//! `alter dev`: every service in one process over the embedded adapters (a SQLite store and
//! an in-process bus persisted beside it), state in `./.alter/`, so the product runs on a
//! machine with only the Rust toolchain. Optionally (`--with-sim`) the IDP simulator with
//! one tenant of each kind, seeded with a small directory. Production runs `alter serve`
//! against PostgreSQL and NATS JetStream (ADR 0011).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use alter_idp_sim::{IdpSim, NewGroup, NewUser, TenantKind, TenantOptions};
use alter_runtime::{CancellationToken, Deps};
use anyhow::Context as _;
use figment::Figment;
use figment::providers::Serialized;
use serde_json::{Value, json};

use crate::serve::{self, ServiceName, Started};

/// `alter dev` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Where the state is kept (created if missing): the store, the bus, the master key and
    /// the admin token. Restarting with the same directory finds everything again.
    #[arg(long, default_value = ".alter")]
    pub data: PathBuf,
    /// Also run the IDP simulator, with an Okta, Auth0, Clerk and plain OIDC tenant each
    /// seeded with a small directory.
    #[arg(long)]
    pub with_sim: bool,
    /// The simulator's port (its tenants' issuers include it, so keep it across restarts).
    #[arg(long, default_value_t = 9000)]
    pub sim_port: u16,
}

/// Where each service listens unless `alter.toml` or `ALTER_<SECTION>__LISTEN` says otherwise:
/// the ports of `deploy/alter.local.toml`, so the docs' commands work unchanged.
const PORTS: [(&str, u16, u16); 7] = [
    ("config_api", 50051, 9091),
    ("jwt_verifier", 50052, 9092),
    ("directory_sync", 50053, 9093),
    ("webhook_ingest", 8080, 9094),
    ("grant_revoker", 50055, 9095),
    ("audit_writer", 50056, 9096),
    ("signin", 8081, 9097),
];

/// Where browsers reach the sign-in service of `alter dev`.
pub const SIGNIN_URL: &str = "http://127.0.0.1:8081";

/// The simulator tenants `--with-sim` creates, by name.
pub const SIM_TENANTS: [(&str, TenantKind); 4] = [
    ("okta", TenantKind::Okta),
    ("auth0", TenantKind::Auth0),
    ("clerk", TenantKind::Clerk),
    ("oidc", TenantKind::Oidc),
];

/// The simulated Okta org's service app key: a fixed, published key that only the local
/// simulator trusts (it is the directory-sync tests' key). Never use it with a real Okta org.
const SIM_OKTA_SERVICE_KEY: &str =
    include_str!("../../directory-sync/tests/it/okta_test_key.jwk.json");
const SIM_OKTA_KEY_ID: &str = "alter-dev-sim";

/// A running `alter dev`: its services, the simulator, and what a user needs to reach them.
pub struct DevEnv {
    pub data: PathBuf,
    pub admin_token: String,
    pub started: Vec<(&'static str, u16, u16)>,
    pub sim: Option<DevSim>,
    root: CancellationToken,
    tasks: Vec<serve::Running>,
    _telemetry: Option<alter_telemetry::TelemetryGuard>,
}

/// The simulator and the seeded tenants.
pub struct DevSim {
    pub sim: IdpSim,
    /// Where the tenants' directory credentials were written (`sim.json`).
    pub credentials_file: PathBuf,
    pub credentials: Value,
}

impl DevEnv {
    /// Opens the state in `args.data`, starts every service (and the simulator) and returns
    /// once all of them listen.
    pub async fn start(args: &DevArgs) -> anyhow::Result<Self> {
        let data = args.data.clone();
        create_private_dir(&data)?;
        let master_key = master_key(&data.join("master.key"))?;
        let admin_token = admin_token(&data.join("admin-token"))?;

        let sim = if args.with_sim {
            Some(start_sim(&data, args.sim_port).await?)
        } else {
            None
        };

        let defaults = defaults(&master_key, &admin_token, args.with_sim);
        let loaded = serve::load_all(&ServiceName::ALL, Some(&defaults))
            .map_err(|problems| anyhow::anyhow!(problems.join("\n")))?;
        let telemetry = match loaded.first() {
            Some(first) => Some(
                alter_telemetry::init("alter", &first.common().telemetry)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            None => None,
        };
        let deps = open_embedded(&data).await?;
        let root = CancellationToken::new();
        let started = serve::start_all(loaded, &deps, &root).await?;
        let ports = started
            .iter()
            .map(|s| (s.name, s.port, s.admin_port))
            .collect();
        Ok(Self {
            data,
            admin_token,
            started: ports,
            sim,
            root,
            tasks: started.into_iter().map(|s: Started| s.task).collect(),
            _telemetry: telemetry,
        })
    }

    /// The port a service listens on (`config-api`, `jwt-verifier`, …).
    pub fn port(&self, service: &str) -> Option<u16> {
        self.started
            .iter()
            .find(|(name, _, _)| *name == service)
            .map(|(_, port, _)| *port)
    }

    /// `http://127.0.0.1:<port>` of a service.
    pub fn endpoint(&self, service: &str) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.port(service).unwrap_or_default()
        )
    }

    /// Prints the ports, the admin token and the simulator's tenants.
    pub fn print_banner(&self) {
        println!();
        println!("alter dev: state in {}", self.data.display());
        println!();
        println!("In another shell:");
        if let Some(dir) = std::env::current_exe()
            .ok()
            .as_deref()
            .and_then(Path::parent)
        {
            println!("  export PATH=\"{}:$PATH\"", dir.display());
        }
        println!("  export ALTER_ADMIN_TOKEN={}", self.admin_token);
        if self.port("config-api") != Some(50051) {
            println!("  export ALTER_ENDPOINT={}", self.endpoint("config-api"));
        }
        println!("  alter apps create \"My app\"");
        if let Some(sim) = &self.sim {
            println!();
            println!("IDP simulator on {} (docs/idp-sim.md):", sim.sim.base_url());
            for (name, _) in SIM_TENANTS {
                if let Ok(info) = sim.sim.tenant(name) {
                    let issuer = if name == "okta" {
                        sim.sim.issuer(name, Some("default")).unwrap_or(info.issuer)
                    } else {
                        info.issuer
                    };
                    println!("  {name:<6} issuer {issuer}");
                }
            }
            println!(
                "  directory credentials and webhook secrets: {} (as shell variables: . {})",
                sim.credentials_file.display(),
                self.data.join("sim.env").display()
            );
        }
        println!();
    }

    /// Stops every service and waits for them.
    pub async fn stop(self) -> ExitCode {
        self.root.cancel();
        serve::wait_all(self.tasks, &self.root, "alter dev").await
    }

    /// Runs until SIGTERM / Ctrl-C (or a service stops).
    pub async fn run_until_stopped(self) -> ExitCode {
        alter_runtime::cancel_on_signals(self.root.clone());
        let code = serve::wait_all(self.tasks, &self.root, "alter dev").await;
        drop(self.sim);
        code
    }
}

/// `alter dev`.
pub fn run(args: DevArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("alter dev: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let env = match DevEnv::start(&args).await {
            Ok(env) => env,
            Err(e) => {
                eprintln!("alter dev: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        env.print_banner();
        println!(
            "alter dev is ready; Ctrl-C stops it (the state stays in {})",
            env.data.display()
        );
        env.run_until_stopped().await
    })
}

/// The defaults `alter dev` gives every service: the standard local ports, the generated
/// master key and admin token hash, a placeholder database URL (nothing connects to it: the
/// store is embedded), and with the simulator a directory request budget it does not need.
fn defaults(master_key: &alter_secrets::MasterKey, admin_token: &str, with_sim: bool) -> Figment {
    let mut figment = Figment::new()
        .merge(Serialized::default(
            "database.url",
            "postgres://unused.invalid/alter-dev-uses-the-embedded-store",
        ))
        .merge(Serialized::default("database.migrate", false))
        .merge(Serialized::default(
            "secrets.master_key",
            master_key.to_base64().expose(),
        ))
        .merge(Serialized::default(
            "config_api.admin_token_hashes",
            vec![alter_secrets::hash_admin_token(admin_token)],
        ))
        .merge(Serialized::default("public.signin_url", SIGNIN_URL))
        .merge(Serialized::default("telemetry.log_level", "warn"))
        .merge(Serialized::default("telemetry.log_format", "pretty"))
        // Imports requested by hand start within half a second.
        .merge(Serialized::default("directory_sync.poll_ms", 500));
    if with_sim {
        // The simulator has no rate limit; a real provider's budget (50 requests a minute for
        // Okta) would make the demo's five-user import take seconds.
        figment = figment.merge(Serialized::default(
            "directory_sync.requests_per_minute",
            6000,
        ));
    }
    for (section, port, admin) in PORTS {
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let admin_listen = SocketAddr::from(([127, 0, 0, 1], admin));
        figment = figment
            .merge(Serialized::default(&format!("{section}.listen"), listen))
            .merge(Serialized::default(
                &format!("{section}.admin_listen"),
                admin_listen,
            ));
    }
    figment
}

/// The embedded store and bus over files in `data`.
async fn open_embedded(data: &Path) -> anyhow::Result<Deps> {
    let store = alter_store::SqliteStore::open(&data.join("store.sqlite3"), 8)
        .await
        .with_context(|| format!("opening the store in {}", data.display()))?;
    let bus = alter_bus::EmbeddedBus::open(&data.join("bus.sqlite3"), Default::default())
        .await
        .with_context(|| format!("opening the bus in {}", data.display()))?;
    Ok(Deps::new(Arc::new(store), Arc::new(bus)))
}

/// Creates `dir` readable by its owner only. An existing directory is left as it is (it may
/// be one the user chose, such as `--data .`); the secrets in it are owner-only files anyway.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {} to its owner", dir.display()))?;
    }
    Ok(())
}

/// Reads `path`, or writes `make()`'s value there (owner-only) when it is missing.
fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = make()?;
            write_private(path, &value)?;
            Ok(value)
        }
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    use std::io::Write as _;
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{contents}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn master_key(path: &Path) -> anyhow::Result<alter_secrets::MasterKey> {
    let text = read_or_create(path, || {
        Ok(alter_secrets::MasterKey::generate()?
            .to_base64()
            .expose()
            .to_owned())
    })?;
    alter_secrets::MasterKey::parse(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a master key ({e}); delete it only if you also delete the store, whose secrets it seals", path.display()))
}

fn admin_token(path: &Path) -> anyhow::Result<String> {
    read_or_create(path, || {
        Ok(
            alter_secrets::generate_token(alter_secrets::ADMIN_TOKEN_PREFIX)?
                .expose()
                .to_owned(),
        )
    })
}

/// Starts the simulator on `port` with one tenant of each kind and a small directory each,
/// and writes what a directory credential and a webhook need to `data/sim.json`.
async fn start_sim(data: &Path, port: u16) -> anyhow::Result<DevSim> {
    let sim = IdpSim::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| {
            format!(
                "starting the IDP simulator on 127.0.0.1:{port} (choose another with --sim-port)"
            )
        })?;
    let mut credentials = serde_json::Map::new();
    for (name, kind) in SIM_TENANTS {
        let info = sim.create_tenant(name, kind, TenantOptions::default())?;
        seed_directory(&sim, name, kind)?;
        let entry = match kind {
            TenantKind::Okta => {
                let private: Value = serde_json::from_str(SIM_OKTA_SERVICE_KEY)?;
                let mut with_kid = private.clone();
                with_kid["kid"] = json!(SIM_OKTA_KEY_ID);
                let public = json!({ "kty": "RSA", "kid": SIM_OKTA_KEY_ID, "use": "sig", "alg": "RS256", "n": private["n"], "e": private["e"] });
                let app = sim.register_okta_service_app(
                    name,
                    vec![public],
                    &["okta.users.read", "okta.groups.read"],
                    true,
                )?;
                let jwk_file = data.join("sim-okta-service-app.jwk.json");
                write_private(&jwk_file, &with_kid.to_string())?;
                json!({
                    "issuer": sim.issuer(name, Some("default"))?,
                    "org_url": info.base_url,
                    "client_id": app.client_id,
                    "private_jwk_file": jwk_file,
                })
            }
            TenantKind::Auth0 => {
                let client = sim.register_auth0_client(name, &["read:users", "read:groups"])?;
                json!({
                    "issuer": info.issuer,
                    "domain": info.base_url,
                    "client_id": client.client_id,
                    "client_secret": client.client_secret,
                })
            }
            TenantKind::Clerk => json!({
                "issuer": info.issuer,
                "api_url": info.base_url,
                "secret_key": sim.register_clerk_secret_key(name)?,
                "webhook_secret": info.webhook_secret,
            }),
            TenantKind::Oidc => json!({ "issuer": info.issuer }),
        };
        credentials.insert(name.to_owned(), entry);
    }
    let credentials = Value::Object(credentials);
    let credentials_file = data.join("sim.json");
    write_private(
        &credentials_file,
        &serde_json::to_string_pretty(&credentials)?,
    )?;
    write_private(
        &data.join("sim.env"),
        &sim_env(sim.base_url(), &credentials),
    )?;
    Ok(DevSim {
        sim,
        credentials_file,
        credentials,
    })
}

/// The same as shell variables, for `. .alter/sim.env`: `SIM_URL`, then `SIM_<TENANT>_<KEY>`
/// for every tenant's entry (`SIM_OKTA_CLIENT_ID`, `SIM_AUTH0_CLIENT_SECRET`, …).
fn sim_env(base_url: &str, credentials: &Value) -> String {
    let quote = |value: &str| format!("'{}'", value.replace('\'', r"'\''"));
    let mut lines = vec![
        "# The IDP simulator of `alter dev --with-sim`: `. .alter/sim.env` in a shell.".to_owned(),
        format!("export SIM_URL={}", quote(base_url)),
    ];
    if let Value::Object(tenants) = credentials {
        for (tenant, entry) in tenants {
            if let Value::Object(fields) = entry {
                for (key, value) in fields {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Null => continue,
                        other => other.to_string(),
                    };
                    lines.push(format!(
                        "export SIM_{}_{}={}",
                        tenant.to_uppercase(),
                        key.to_uppercase(),
                        quote(&text)
                    ));
                }
            }
        }
    }
    lines.join("\n")
}

/// Five people in two groups, with the same IDs at every start so a restart (which makes
/// the simulator anew) finds the users the store already knows.
fn seed_directory(sim: &IdpSim, tenant: &str, kind: TenantKind) -> anyhow::Result<()> {
    let people = [
        ("ada", "Ada", "Lovelace"),
        ("grace", "Grace", "Hopper"),
        ("linus", "Linus", "Torvalds"),
        ("margaret", "Margaret", "Hamilton"),
        ("alan", "Alan", "Turing"),
    ];
    let user_id = |short: &str| match kind {
        TenantKind::Okta => format!("00u{short:0>17}"),
        TenantKind::Auth0 => format!("auth0|{short:0>24}"),
        TenantKind::Clerk => format!("user_{short:0>27}"),
        TenantKind::Oidc => short.to_owned(),
    };
    let group_id = |short: &str| match kind {
        TenantKind::Okta => format!("00g{short:0>17}"),
        TenantKind::Clerk => format!("org_{short:0>27}"),
        _ => short.to_owned(),
    };
    for (short, first, last) in people {
        sim.add_user(
            tenant,
            NewUser {
                id: Some(user_id(short)),
                email: Some(format!("{short}@example.test")),
                first_name: Some(first.to_owned()),
                last_name: Some(last.to_owned()),
                ..NewUser::default()
            },
        )?;
    }
    if matches!(kind, TenantKind::Oidc) {
        return Ok(());
    }
    for (short, name, members) in [
        ("engineering", "Engineering", &["ada", "grace", "linus"][..]),
        ("support", "Support", &["margaret", "alan"][..]),
    ] {
        let group = sim.add_group(
            tenant,
            NewGroup {
                id: Some(group_id(short)),
                name: Some(name.to_owned()),
                description: None,
            },
        )?;
        for member in members {
            sim.add_membership(tenant, &group.id, &user_id(member), None)?;
        }
    }
    Ok(())
}
