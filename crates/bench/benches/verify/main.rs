//! The verify-path benchmark (`make bench`): in one run on this machine it measures
//! 1. the floors: in-process jsonwebtoken RS256 and ES256 decode+validate, the raw aws-lc-rs
//!    RS256 signature check, and a no-op gRPC server of Verify's sizes (`noop-verifier`,
//!    the transport floor) in its own process, placed and driven like the verifier,
//! 2. Verify RPC throughput against a real `jwt-verifier` process (release build) with every
//!    token distinct (cold) and with repeated tokens (warm), and the servers' CPU µs per call
//!    from their process CPU time (/proc),
//! 3. p50/p99 latency under an open-loop load at half of each peak, Verify and the no-op
//!    server alternating at the same rate, beside the verifier's own histogram,
//! 4. the first sign-in of never-seen users (just-in-time provisioning), 1 and 8 in flight,
//! 5. the verifier's resident memory per cached token (a fresh process, 10 tokens for each
//!    of 10,000 users),
//!
//! and prints each target as a ratio to the floor it names. The driver shares the machine's
//! two cores with the servers; the per-call CPU figures are the servers' alone.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod floors;
mod load;
mod memory;
mod process;
mod report;

use alter_core::{ClaimMappings, IdpKind};
use alter_idp_sim::{IdpSim, TenantKind, TenantOptions, TokenAlg, TokenSpec};
use alter_proto::identity::v1::verifier_client::VerifierClient;
use alter_proto::identity::v1::{VerifyRequest, VerifyResponse};
use alter_store::testing::TestDatabase;
use alter_store::{AppStore, IdpStore, NewIdp};
use prost::Message;
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

use load::{closed_loop, open_loop};
use process::{Layout, ServerProcess, layout};

const AUDIENCE: &str = "api://bench";
const CONCURRENCY: usize = 64;
const CHANNELS: usize = 4;
const LATENCY_RUNS: usize = 3;
/// Never-seen users signing in for the first time, per level of concurrency.
const FIRST_SIGN_INS: usize = 2_000;
const FIRST_SIGN_IN_IN_FLIGHT: [usize; 2] = [1, 8];
/// The cached-token memory run: this many users with this many tokens each.
const MEMORY_USERS: usize = 10_000;
const TOKENS_PER_USER: usize = 10;

fn main() -> anyhow::Result<()> {
    if layout() == Layout::Pinned {
        // Before the runtime starts, so every driver thread inherits the affinity.
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(
            status.success(),
            "taskset could not pin the driver to core 0"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let sim = IdpSim::start().await?;
    sim.create_tenant("bench", TenantKind::Oidc, TenantOptions::default())?;
    let info = sim.tenant("bench")?;
    let mut mint = Minter {
        sim: &sim,
        issuer: &info.issuer,
        minted: 0,
    };

    // ---- 1. in-process floors -------------------------------------------------------------
    let rs_token = mint.token("user-0")?;
    let rs256_decode_us = floors::decode(
        &sim,
        &info.issuer,
        &rs_token,
        jsonwebtoken::Algorithm::RS256,
    )?;
    let rs256_signature_us = floors::rs256_signature(&sim, &rs_token)?;
    sim.publish_next_key("bench", TokenAlg::ES256)?;
    let mut es_spec = twelve_claims(&info.issuer, "user-0", 0);
    es_spec.alg = TokenAlg::ES256;
    let es_token = sim.mint("bench", &es_spec)?;
    let es256_decode_us = floors::decode(
        &sim,
        &info.issuer,
        &es_token,
        jsonwebtoken::Algorithm::ES256,
    )?;

    // ---- 2. a real verifier process, and the no-op server answering what it answers -------
    let db = TestDatabase::create().await?;
    let store = db.store();
    let app = store.create_app("bench").await?;
    store
        .create_idp(
            app.id,
            &NewIdp {
                kind: IdpKind::CustomOidc,
                issuer: info.issuer.clone(),
                jwks_uri: info.jwks_uri.clone(),
                audience: AUDIENCE.to_owned(),
                claim_mappings: ClaimMappings {
                    group_claim: Some("groups".into()),
                    ..Default::default()
                },
                sign_in: None,
            },
        )
        .await?;
    let prefix = alter_bus::testing::unique_prefix();
    let mut verifier = ServerProcess::verifier(db.url(), &prefix, &[]).await?;

    let users = 100;
    let cold_n = 12_000;
    println!("minting {cold_n} distinct RS256 tokens for {users} users …");
    let cold_tokens = mint.tokens(cold_n, |i| format!("user-{}", i % users))?;
    let warm_tokens = Arc::new(cold_tokens[..users].to_vec());
    let app_id = app.id.to_string();

    // Provision every user once (JIT writes happen here, not in the measured runs).
    for t in warm_tokens.iter() {
        verify(&verifier.channels[0], &app_id, t).await?;
    }
    // A warm answer, as the warm runs receive it: the no-op server returns it to every call.
    let answer = verify(&verifier.channels[0], &app_id, &warm_tokens[users / 2]).await?;
    let mut noop = ServerProcess::noop(&answer).await?;

    // ---- 3. peaks --------------------------------------------------------------------------
    let peak = Some(Duration::from_secs(5));
    let cold_peak = Arc::new(cold_tokens[users..].to_vec());
    let cold = closed_loop(&verifier, &app_id, cold_peak, None, CONCURRENCY).await?;
    let warm = closed_loop(&verifier, &app_id, warm_tokens.clone(), peak, CONCURRENCY).await?;
    let noop_peak = closed_loop(&noop, &app_id, warm_tokens.clone(), peak, CONCURRENCY).await?;

    // ---- 4. latency at half of peak (warm tokens; and fresh cold tokens) ---------------------
    // Three runs each: tail latency on a shared two-core machine varies from run to run, so
    // every run is printed and the median p99 is held against the target. Each Verify run is
    // followed by a no-op run at the same rate with the same requests, so the two see the
    // same machine.
    let (mut warm_latency, mut noop_warm_latency) = (Vec::new(), Vec::new());
    let warm_rate = warm.rate / 2.0;
    let three = Duration::from_secs(3);
    for _ in 0..LATENCY_RUNS {
        warm_latency
            .push(open_loop(&verifier, &app_id, warm_tokens.clone(), warm_rate, three).await?);
        noop_warm_latency
            .push(open_loop(&noop, &app_id, warm_tokens.clone(), warm_rate, three).await?);
    }
    let cold_rate = cold.rate / 2.0;
    let per_run = (cold_rate * 2.0) as usize + 1;
    let fresh = mint.tokens(per_run * LATENCY_RUNS, |i| format!("user-{}", i % users))?;
    let (mut cold_latency, mut noop_cold_latency) = (Vec::new(), Vec::new());
    let two = Duration::from_secs(2);
    for chunk in fresh.chunks(per_run) {
        let chunk = Arc::new(chunk.to_vec());
        cold_latency.push(open_loop(&verifier, &app_id, chunk.clone(), cold_rate, two).await?);
        noop_cold_latency.push(open_loop(&noop, &app_id, chunk, cold_rate, two).await?);
    }
    noop.stop();

    // ---- 5. first sign-in: JIT provisioning of never-seen users ------------------------------
    let mut first_sign_in = Vec::new();
    for in_flight in FIRST_SIGN_IN_IN_FLIGHT {
        let tokens = mint.tokens(FIRST_SIGN_INS, |i| format!("first-{in_flight}-{i}"))?;
        let run = closed_loop(&verifier, &app_id, Arc::new(tokens), None, in_flight).await?;
        first_sign_in.push((in_flight, run));
    }
    verifier.stop();

    // ---- 6. memory per cached token, in a fresh verifier ---------------------------------------
    println!(
        "minting {} RS256 tokens for {MEMORY_USERS} users …",
        MEMORY_USERS * TOKENS_PER_USER
    );
    let mut memory_tokens = Vec::with_capacity(MEMORY_USERS);
    for u in 0..MEMORY_USERS {
        memory_tokens.push(mint.tokens(TOKENS_PER_USER, |_| format!("cached-{u}"))?);
    }
    // Room for every token: the cache is sharded by digest, so at exactly its capacity some
    // shards would already evict.
    let capacity = (2 * MEMORY_USERS * TOKENS_PER_USER).to_string();
    let mut cache_server = ServerProcess::verifier(
        db.url(),
        &prefix,
        &[("ALTER_JWT_VERIFIER__TOKEN_CACHE_CAPACITY", &capacity)],
    )
    .await?;
    let memory =
        memory::cached_tokens(&cache_server, &app_id, warm_tokens.clone(), &memory_tokens).await?;
    cache_server.stop();
    db.cleanup().await?;

    report::print(&report::Results {
        rs256_decode_us,
        es256_decode_us,
        rs256_signature_us,
        answer_bytes: answer.encoded_len(),
        cold,
        warm,
        noop: noop_peak,
        warm_latency,
        noop_warm_latency,
        cold_latency,
        noop_cold_latency,
        first_sign_in,
        memory,
    });
    Ok(())
}

/// Mints the benchmark's tokens, each with its own `jti`, so no two are alike.
struct Minter<'a> {
    sim: &'a IdpSim,
    issuer: &'a str,
    minted: usize,
}

impl Minter<'_> {
    fn token(&mut self, sub: &str) -> anyhow::Result<String> {
        self.minted += 1;
        Ok(self
            .sim
            .mint("bench", &twelve_claims(self.issuer, sub, self.minted))?)
    }

    /// `count` tokens, the i-th for the user `sub(i)`.
    fn tokens(
        &mut self,
        count: usize,
        sub: impl Fn(usize) -> String,
    ) -> anyhow::Result<Vec<String>> {
        (0..count).map(|i| self.token(&sub(i))).collect()
    }
}

/// A realistic 12-claim access token (iss, sub, aud, exp, iat, nbf, jti, scope, email, name,
/// groups, azp).
fn twelve_claims(issuer: &str, sub: &str, n: usize) -> TokenSpec {
    TokenSpec::new(sub, json!(AUDIENCE))
        .claim("iss", json!(issuer))
        .claim("jti", json!(format!("jti-{n}")))
        .claim("scope", json!("openid profile email"))
        .claim("email", json!(format!("{sub}@example.com")))
        .claim("name", json!(format!("User {sub}")))
        .claim("groups", json!(["eng", "ops"]))
        .claim("azp", json!("bench-client"))
}

async fn verify(channel: &Channel, app_id: &str, token: &str) -> anyhow::Result<VerifyResponse> {
    let mut client = VerifierClient::new(channel.clone());
    let answer = client
        .verify(VerifyRequest {
            app_id: app_id.to_owned(),
            token: token.to_owned(),
        })
        .await?;
    Ok(answer.into_inner())
}
