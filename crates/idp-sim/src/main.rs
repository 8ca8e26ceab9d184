//! `idp-sim --listen 127.0.0.1:9000 [--seed file.json]`: runs the simulator standalone.

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser)]
#[command(about = "IDP simulator: Auth0, Clerk, Okta and OIDC tenants on one port")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// JSON seed file: a list of control requests (see docs/idp-sim.md).
    #[arg(long)]
    seed: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().json().init();
    let args = Args::parse();
    let sim = alter_idp_sim::IdpSim::bind(args.listen).await?;
    if let Some(path) = args.seed {
        let seed: alter_idp_sim::Seed = serde_json::from_slice(&std::fs::read(&path)?)?;
        sim.apply_seed(seed)?;
    }
    use std::io::Write as _;
    writeln!(std::io::stdout(), "{}", sim.base_url())?;
    tracing::info!(base_url = sim.base_url(), "idp-sim listening");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
