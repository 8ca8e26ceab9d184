//! `alter`: the command line of Alter Identity — run services, and administer apps.

#![allow(clippy::print_stdout, reason = "a CLI prints its answers")]

mod admin;
mod demo;
mod dev;
mod directory;
mod migrate;
mod serve;
mod signin;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "alter", version, about = "Alter Identity: verify your identity provider's JWTs, resolve users and grants, \
deprovision in real time.", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: admin::Connection,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run services in this process against PostgreSQL and NATS (configured by alter.toml and
    /// ALTER_… environment variables). With no names, runs all of them (signin when
    /// public.signin_url is set).
    Serve {
        /// Any of: config-api, jwt-verifier, directory-sync, webhook-ingest, grant-revoker,
        /// audit-writer, signin.
        services: Vec<serve::ServiceName>,
    },
    /// Apply the PostgreSQL migrations ([database] of alter.toml / ALTER_DATABASE__URL) and
    /// exit: the Helm chart's pre-install/pre-upgrade Job.
    Migrate,
    /// Try it: every service in this process over an embedded store and bus, state in
    /// ./.alter (nothing to install). `--with-sim` adds the IDP simulator.
    Dev(dev::DevArgs),
    /// A guided tour: runs `alter dev --with-sim` and walks through the product step by step,
    /// printing each command it runs.
    Demo(demo::DemoArgs),
    /// Verify an end user's JWT as internal services do: the user, their groups and grants,
    /// or why it is refused.
    Verify(verify::VerifyArgs),
    /// Key and token material for the operator.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Create and list apps (tenants).
    #[command(subcommand)]
    Apps(admin::AppsCommand),
    /// Discover, connect, show, re-map or remove the app's identity provider.
    #[command(subcommand)]
    Idp(admin::IdpCommand),
    /// Grant credentials to users, groups or the app; list and revoke grants.
    #[command(subcommand)]
    Grants(admin::GrantsCommand),
    /// List users and show one with their groups and grants.
    #[command(subcommand)]
    Users(admin::UsersCommand),
    /// List groups.
    #[command(subcommand)]
    Groups(admin::GroupsCommand),
    /// List the provisioning audit trail; verify its hash chain.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// Enable, rotate, disable and inspect the identity provider's webhooks; list deliveries.
    #[command(subcommand)]
    Webhooks(admin::WebhooksCommand),
    /// Directory sync: the provider credential, imports (run, watch, list), and the
    /// decision on an import the safety valve holds.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// OIDC sign-in for app.authenticate() and the Wallet: client ID and secret, allowed
    /// return URLs, and the redirect URIs to give the identity provider.
    #[command(subcommand)]
    Signin(signin::SigninCommand),
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Print a new random master key for `secrets.master_key` (base64, 32 bytes).
    GenKey,
    /// Print a new admin bearer token and the hash to put in `config_api.admin_token_hashes`.
    NewAdminToken,
    /// Print the hash of an existing token read from standard input.
    HashToken,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { services } => serve::run(services),
        Command::Migrate => migrate::run(),
        Command::Dev(args) => dev::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Secrets(cmd) => secrets(cmd),
        Command::Apps(cmd) => admin::run(cli.connection, admin::AdminCommand::Apps(cmd)),
        Command::Idp(cmd) => admin::run(cli.connection, admin::AdminCommand::Idp(cmd)),
        Command::Grants(cmd) => admin::run(cli.connection, admin::AdminCommand::Grants(cmd)),
        Command::Users(cmd) => admin::run(cli.connection, admin::AdminCommand::Users(cmd)),
        Command::Groups(cmd) => admin::run(cli.connection, admin::AdminCommand::Groups(cmd)),
        Command::Webhooks(cmd) => admin::run(cli.connection, admin::AdminCommand::Webhooks(cmd)),
        Command::Audit(cmd) => admin::run(cli.connection, admin::AdminCommand::Audit(cmd)),
        Command::Directory(cmd) => admin::run(cli.connection, admin::AdminCommand::Directory(cmd)),
        Command::Signin(signin::SigninCommand::Redeem(args)) => signin::redeem(args),
        Command::Signin(cmd) => admin::run(cli.connection, admin::AdminCommand::Signin(cmd)),
    }
}

fn secrets(cmd: SecretsCommand) -> ExitCode {
    let result: anyhow::Result<()> = (|| {
        match cmd {
            SecretsCommand::GenKey => {
                let key = alter_secrets::MasterKey::generate()?;
                println!("{}", key.to_base64().expose());
            }
            SecretsCommand::NewAdminToken => {
                let token = alter_secrets::generate_token(alter_secrets::ADMIN_TOKEN_PREFIX)?;
                println!("token: {}", token.expose());
                println!("hash:  {}", alter_secrets::hash_admin_token(token.expose()));
                println!(
                    "Keep the token; put only the hash in the configuration. The token is not shown again."
                );
            }
            SecretsCommand::HashToken => {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                println!("{}", alter_secrets::hash_admin_token(line.trim()));
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("alter secrets: {e}");
            ExitCode::FAILURE
        }
    }
}
