//! The webhook benchmark (`make bench`): in one run on this machine it measures
//! 1. **revocation latency**: from an Auth0 `sdu` log-stream POST (sent as Auth0 sends it,
//!    `Authorization: Bearer <secret>`) to the first Verify refused with `USER_DEPROVISIONED`
//!    on a warm verifier (the user's token verified and cached just before), one distinct
//!    user per trial, every service in-process (webhook-ingest, grant-revoker, jwt-verifier,
//!    config-api for the setup), polling Verify in a tight loop from the moment the POST is
//!    sent; beside it, the POST's own time to its 2xx and a warm Verify's round trip,
//! 2. **webhook-ingest server CPU per accepted webhook**: the release `webhook-ingest` and the
//!    floor `bare-ingest` (an axum handler that only publishes the body to JetStream and waits
//!    for the ack), each alone on core 1 with one runtime worker, the driver on core 0, a fixed
//!    number of deliveries with many in flight, CPU from `/proc/<pid>/stat`,
//! 3. **raw JetStream publish** with pipelined acks (256 in flight, 256-byte messages), from
//!    the driver process,
//!
//! 4. **audit-writer sustained records/s** draining a backlog of audit records, against
//!    PostgreSQL's raw batched insert (UNNEST, 500 rows per statement) of the same rows,
//!
//! and prints each target beside the floor it is held against. No timed assertions.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod audit;
mod ingest_cpu;
mod jetstream;
mod revocation;

use std::time::Duration;

use alter_idp_sim::{IdpSim, TenantKind, TenantOptions};
use alter_proto::admin::v1 as pb;
use alter_testkit::{TestEnv, spawn};

const ADMIN_TOKEN: &str = "alt_adm_bench-webhooks";
const AUDIENCE: &str = "api://bench-hooks";
const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Revocation trials, one distinct user each.
const TRIALS: usize = 1_000;
/// Deliveries per server in the CPU runs, after a warm-up of `WARM_UP`.
const DELIVERIES: usize = 10_000;
const WARM_UP: usize = 500;
const IN_FLIGHT: usize = 64;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}

/// An app with an IDP on a simulator tenant and webhooks enabled.
pub struct HookApp {
    pub app: String,
    pub idp: String,
    pub url: String,
    pub secret: String,
    pub tenant: String,
}

async fn hook_app(
    admin: &mut alter_config_api::AdminClient,
    sim: &IdpSim,
    tenant: &str,
    kind: TenantKind,
) -> anyhow::Result<HookApp> {
    let options = TenantOptions {
        webhook_secret: Some(SVIX_SECRET.to_owned()),
        ..TenantOptions::default()
    };
    let info = sim.create_tenant(tenant, kind, options)?;
    let (pb_kind, pasted) = match kind {
        TenantKind::Clerk => (pb::IdpKind::Clerk, SVIX_SECRET),
        _ => (pb::IdpKind::Auth0, ""),
    };
    let app = admin
        .create_app(pb::CreateAppRequest {
            name: tenant.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .id;
    let idp = admin
        .create_idp(pb::CreateIdpRequest {
            app_id: app.clone(),
            issuer: info.issuer,
            kind: pb_kind.into(),
            audience: AUDIENCE.into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .id;
    let issued = admin
        .enable_webhooks(pb::EnableWebhooksRequest {
            app_id: app.clone(),
            secret: pasted.into(),
        })
        .await?
        .into_inner();
    let url = issued
        .status
        .ok_or_else(|| anyhow::anyhow!("enable_webhooks answered no status"))?
        .endpoint_url;
    let secret = if issued.secret.is_empty() {
        pasted.to_owned()
    } else {
        issued.secret
    };
    Ok(HookApp {
        app,
        idp,
        url,
        secret,
        tenant: tenant.to_owned(),
    })
}

async fn run() -> anyhow::Result<()> {
    let env = TestEnv::new().await;
    let mut common = env.common();
    let master_key = alter_secrets::MasterKey::generate()?;
    common.secrets.master_key = Some(master_key.clone());
    let ingest = spawn::<alter_webhook_ingest::Application>(
        alter_webhook_ingest::Config::for_tests(common.clone()),
    )
    .await;
    let mut api = alter_config_api::Config::for_tests(common.clone()).with_admin_token(ADMIN_TOKEN);
    api.config_api.public_webhook_base_url = ingest.url();
    let config_api = spawn::<alter_config_api::Application>(api).await;
    let revoker = spawn::<alter_grant_revoker::Application>(
        alter_grant_revoker::Config::for_tests(common.clone()),
    )
    .await;
    let verifier = spawn::<alter_jwt_verifier::Application>(alter_jwt_verifier::Config::for_tests(
        common.clone(),
    ))
    .await;
    let mut admin = alter_config_api::connect_admin(&config_api.url(), Some(ADMIN_TOKEN)).await?;
    let sim = IdpSim::start().await?;

    // ---- 1. revocation latency (in-process services) ------------------------------------------
    let rev_app = hook_app(&mut admin, &sim, "rev-a0", TenantKind::Auth0).await?;
    let revocation = revocation::run(&sim, &rev_app, &verifier.url(), TRIALS).await?;

    // The CPU runs' apps, set up through config-api before the in-process services stop (the
    // grant-revoker must not consume the CPU runs' events on the driver's core).
    let cpu_auth0 = hook_app(&mut admin, &sim, "cpu-a0", TenantKind::Auth0).await?;
    let cpu_clerk = hook_app(&mut admin, &sim, "cpu-clerk", TenantKind::Clerk).await?;
    for service in [ingest, config_api, revoker, verifier] {
        service.stop().await.map_err(|e| anyhow::anyhow!(e))?;
    }

    // ---- 2. server CPU per accepted webhook (release processes on core 1) ----------------------
    ingest_cpu::pin_driver()?;
    let cpu = ingest_cpu::run(
        &env,
        master_key.to_base64().expose(),
        &cpu_auth0,
        &cpu_clerk,
    )
    .await?;

    // ---- 3. raw JetStream publish, pipelined acks ----------------------------------------------
    let raw = jetstream::pipelined(256, 256, 50_000).await?;

    // ---- 4. audit-writer against the raw batched insert -----------------------------------------
    let audit = audit::run(&env).await?;

    env.cleanup().await;
    report(&revocation, &cpu, &raw, &audit);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The q-quantile of sorted durations (nearest rank).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn met(ok: bool) -> &'static str {
    if ok { "MET" } else { "NOT MET" }
}

fn report(
    rev: &revocation::Results,
    cpu: &ingest_cpu::Results,
    raw: &jetstream::Results,
    audit: &audit::Results,
) {
    println!();
    println!(
        "webhook benchmark (release; revocation in-process; CPU runs: each server alone on core 1 with one runtime worker, driver on core 0)"
    );
    let line = |name: &str, v: &[Duration]| {
        println!(
            "{name:<44} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   ({} trials)",
            ms(quantile(v, 0.50)),
            ms(quantile(v, 0.99)),
            ms(v.last().copied().unwrap_or_default()),
            v.len()
        );
    };
    line(
        "revocation: POST sent -> first refused Verify",
        &rev.refused,
    );
    line(
        "  floor: POST sent -> its 2xx (ingest alone)",
        &rev.answered,
    );
    line("  floor: warm Verify round trip (the polls)", &rev.poll_rtt);
    println!(
        "  {} trials, {} Verify polls in all ({:.1} per trial), {} failed trials{}",
        rev.trials,
        rev.polls,
        rev.polls as f64 / rev.trials.max(1) as f64,
        rev.failures,
        rev.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    for run in &cpu.runs {
        println!(
            "{:<28} {:>7.0} webhooks/s   server CPU {:>7.1} µs/webhook   ({} accepted, {} failed, {} in flight{})",
            run.name,
            run.rate,
            run.cpu_us,
            run.accepted,
            run.failed,
            IN_FLIGHT,
            run.first_error
                .as_deref()
                .map(|e| format!("; first failure: {e}"))
                .unwrap_or_default()
        );
    }
    println!(
        "raw JetStream publish        {:>7.0} msgs/s   ({} messages of {} bytes, {} acks in flight, from the driver)",
        raw.rate, raw.messages, raw.bytes, raw.in_flight
    );
    println!(
        "audit-writer (in-process)    {:>7.0} records/s draining a backlog of {} records of one app{}",
        audit.writer_rate,
        audit.records,
        if audit.timed_out {
            " (NOT ALL WRITTEN within 120 s)"
        } else {
            ""
        }
    );
    println!(
        "  floor: raw UNNEST insert   {:>7.0} rows/s (500 rows/statement, one connection, a table LIKE audit_events INCLUDING ALL)",
        audit.floor_rate
    );
    println!(
        "  (backlog published at {:.0} records/s, 256 acks in flight)",
        audit.published_rate
    );
    println!();
    println!("targets:");
    let p50 = ms(quantile(&rev.refused, 0.50));
    let p99 = ms(quantile(&rev.refused, 0.99));
    println!(
        "  revocation p50 = {p50:.3} ms (target <= 5 ms) {}",
        met(p50 <= 5.0)
    );
    println!(
        "  revocation p99 = {p99:.3} ms (target <= 25 ms) {}",
        met(p99 <= 25.0)
    );
    let bare = cpu.runs.iter().find(|r| r.name.starts_with("bare"));
    for run in cpu.runs.iter().filter(|r| !r.name.starts_with("bare")) {
        if let Some(bare) = bare {
            let ratio = run.cpu_us / bare.cpu_us;
            println!(
                "  {} server CPU / bare handler's = {:.1} / {:.1} µs = {ratio:.2}x (target <= 1.5x) {}",
                run.name,
                run.cpu_us,
                bare.cpu_us,
                met(ratio <= 1.5)
            );
        }
        println!(
            "  {} server CPU = {:.1} µs/webhook (target <= 50 µs) {}",
            run.name,
            run.cpu_us,
            met(run.cpu_us <= 50.0)
        );
    }
    let share = audit.writer_rate / audit.floor_rate;
    println!(
        "  audit-writer / raw batched insert = {:.0} / {:.0} = {:.1} % (target >= 25 %) {}",
        audit.writer_rate,
        audit.floor_rate,
        share * 100.0,
        met(share >= 0.25 && !audit.timed_out)
    );
}
