//! The benchmark's summary: every figure of the run, then each target as a ratio to the floor
//! it names, measured in the same run, with met / not met.

use crate::LATENCY_RUNS;
use crate::load::{Run, median};
use crate::memory::CacheMemory;
use crate::process::{Layout, layout};

/// Everything one run measured.
pub struct Results {
    /// In-process floors, µs per operation.
    pub rs256_decode_us: f64,
    pub es256_decode_us: f64,
    pub rs256_signature_us: f64,
    /// Encoded size of Verify's answer, which the no-op server returns.
    pub answer_bytes: usize,
    pub cold: Run,
    pub warm: Run,
    pub noop: Run,
    pub warm_latency: Vec<Run>,
    pub noop_warm_latency: Vec<Run>,
    pub cold_latency: Vec<Run>,
    pub noop_cold_latency: Vec<Run>,
    /// (callers in flight, run) over never-seen users.
    pub first_sign_in: Vec<(usize, Run)>,
    pub memory: CacheMemory,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "MET" } else { "NOT MET" }
}

/// A histogram bucket bound in ms (0.05, 0.1, 0.25, …), without float noise.
fn bound(ms: f64) -> f64 {
    (ms * 1e4).round() / 1e4
}

fn ms_or_none(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{}", bound(v)))
}

/// Appended to a run's line when some of its calls failed.
fn failures(run: &Run) -> String {
    match run.failed {
        0 => String::new(),
        n => format!("   {n} CALLS FAILED"),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn print(r: &Results) {
    println!();
    match layout() {
        Layout::Pinned => println!(
            "verify-path benchmark (release; layout pinned: each server alone on core 1 with one runtime worker, driver on core 0)"
        ),
        Layout::Shared => println!(
            "verify-path benchmark (release; layout shared: driver and servers float over both cores)"
        ),
    }
    println!(
        "in-process decode+validate   RS256 {:>7.1} µs/op ({:>7.0}/s)   ES256 {:>7.1} µs/op ({:>7.0}/s)",
        r.rs256_decode_us,
        1e6 / r.rs256_decode_us,
        r.es256_decode_us,
        1e6 / r.es256_decode_us
    );
    println!(
        "in-process RS256 signature   {:>7.1} µs/op ({:>7.0}/s)   (raw aws-lc-rs check, key parsed once)",
        r.rs256_signature_us,
        1e6 / r.rs256_signature_us
    );
    println!(
        "Verify RPC cold (distinct)   {:>9.0} calls/s   server CPU {:>6.1} µs/call   ({} calls){}",
        r.cold.rate,
        r.cold.server_us,
        r.cold.calls,
        failures(&r.cold)
    );
    println!(
        "Verify RPC warm (repeated)   {:>9.0} calls/s   server CPU {:>6.1} µs/call   ({} calls){}",
        r.warm.rate,
        r.warm.server_us,
        r.warm.calls,
        failures(&r.warm)
    );
    println!(
        "no-op RPC (same sizes)       {:>9.0} calls/s   server CPU {:>6.1} µs/call   ({} calls; Verify's requests, a canned {}-byte Verify answer){}",
        r.noop.rate,
        r.noop.server_us,
        r.noop.calls,
        r.answer_bytes,
        failures(&r.noop)
    );
    for (label, rate, runs, noop_runs) in [
        (
            "warm",
            r.warm.rate / 2.0,
            &r.warm_latency,
            &r.noop_warm_latency,
        ),
        (
            "cold",
            r.cold.rate / 2.0,
            &r.cold_latency,
            &r.noop_cold_latency,
        ),
    ] {
        for (i, (run, noop)) in runs.iter().zip(noop_runs.iter()).enumerate() {
            println!(
                "latency at half of {label} peak ({rate:>6.0}/s) run {}   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} calls; server-side p99 <= {} ms){}",
                i + 1,
                run.p50_ms,
                run.p99_ms,
                run.calls,
                ms_or_none(run.server_p99_ms),
                failures(run)
            );
            println!(
                "  no-op at the same rate    ({rate:>6.0}/s) run {}   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} calls){}",
                i + 1,
                noop.p50_ms,
                noop.p99_ms,
                noop.calls,
                failures(noop)
            );
        }
    }
    let cpu = |runs: &[Run]| median(runs, |run| run.server_us);
    println!(
        "server CPU per call in those open-loop runs (medians): warm Verify {:.1} µs, no-op {:.1} µs ({:.2}x); cold Verify {:.1} µs, no-op {:.1} µs",
        cpu(&r.warm_latency),
        cpu(&r.noop_warm_latency),
        cpu(&r.warm_latency) / cpu(&r.noop_warm_latency),
        cpu(&r.cold_latency),
        cpu(&r.noop_cold_latency)
    );
    for (in_flight, run) in &r.first_sign_in {
        println!(
            "first sign-in (JIT), {in_flight} in flight   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} new users, {:.0}/s; server-side p50 <= {} ms, p99 <= {} ms; server CPU {:.0} µs/call){}",
            run.p50_ms,
            run.p99_ms,
            run.calls,
            run.rate,
            ms_or_none(run.server_p50_ms),
            ms_or_none(run.server_p99_ms),
            run.server_us,
            failures(run)
        );
    }
    let m = &r.memory;
    println!(
        "verifier RSS: {:.1} MiB after warm-up, {:.1} MiB with {} users resolved (one token each), {:.1} MiB with {} tokens cached, {:.1} MiB after verifying them all again ({} of {} from the token cache)",
        mib(m.baseline),
        mib(m.with_users),
        m.users,
        mib(m.with_tokens),
        m.tokens,
        mib(m.after_reverify),
        m.reverify_hits,
        m.tokens
    );
    if m.failed > 0 {
        println!(
            "  {} CALLS FAILED in the memory runs; first: {}",
            m.failed,
            m.first_error.as_deref().unwrap_or_default()
        );
    }
    println!(
        "  per resolved user (with its first token) {:.0} B   per further cached token {:.0} B   per cached token, users included {:.0} B",
        m.per_user(),
        m.per_token_beyond_user(),
        m.per_token_all_in()
    );
    print_failures(r);
    print_targets(r);
}

/// The first failure of every run that had any (their figures are over the calls answered).
fn print_failures(r: &Results) {
    let mut runs: Vec<(String, &Run)> = vec![
        ("cold peak".to_owned(), &r.cold),
        ("warm peak".to_owned(), &r.warm),
        ("no-op peak".to_owned(), &r.noop),
    ];
    for (label, list) in [
        ("warm latency", &r.warm_latency),
        ("no-op warm latency", &r.noop_warm_latency),
        ("cold latency", &r.cold_latency),
        ("no-op cold latency", &r.noop_cold_latency),
    ] {
        for (i, run) in list.iter().enumerate() {
            runs.push((format!("{label} run {}", i + 1), run));
        }
    }
    for (in_flight, run) in &r.first_sign_in {
        runs.push((format!("first sign-in, {in_flight} in flight"), run));
    }
    for (label, run) in runs {
        if let Some(error) = &run.first_error {
            println!(
                "FAILED calls in {label}: {} of {}; first: {error}",
                run.failed,
                run.failed + run.calls
            );
        }
    }
}

fn print_targets(r: &Results) {
    let (warm_p99, cold_p99) = (
        median(&r.warm_latency, |run| run.p99_ms),
        median(&r.cold_latency, |run| run.p99_ms),
    );
    let (noop_warm_p99, noop_cold_p99) = (
        median(&r.noop_warm_latency, |run| run.p99_ms),
        median(&r.noop_cold_latency, |run| run.p99_ms),
    );
    let server_p99 = |runs: &[Run]| median(runs, |run| run.server_p99_ms.unwrap_or(f64::INFINITY));
    let (warm_server_p99, cold_server_p99) =
        (server_p99(&r.warm_latency), server_p99(&r.cold_latency));
    println!();
    println!("targets:");
    println!(
        "  cold server CPU / in-process RS256 decode = {:.2}x   (target <= 2x)  {}",
        r.cold.server_us / r.rs256_decode_us,
        verdict(r.cold.server_us / r.rs256_decode_us <= 2.0)
    );
    println!(
        "  warm server CPU per call = {:.1} µs               (target <= 15 µs) {}",
        r.warm.server_us,
        verdict(r.warm.server_us <= 15.0)
    );
    println!(
        "  p99 at half of peak (median of {LATENCY_RUNS} runs): warm {:.3} ms, cold {:.3} ms  (target <= 2 ms)  {}",
        warm_p99,
        cold_p99,
        verdict(warm_p99 <= 2.0 && cold_p99 <= 2.0)
    );
    let warm_ratio = r.warm.server_us / r.noop.server_us;
    println!(
        "  warm Verify server CPU / no-op call's = {:.1} / {:.1} µs = {:.2}x   (target <= 1.25x)  {}",
        r.warm.server_us,
        r.noop.server_us,
        warm_ratio,
        verdict(warm_ratio <= 1.25)
    );
    let cold_budget = r.noop.server_us + 1.2 * r.rs256_signature_us;
    let cold_ratio = (r.cold.server_us - r.noop.server_us) / r.rs256_signature_us;
    println!(
        "  cold Verify server CPU {:.1} µs vs no-op {:.1} + 1.2 x raw RS256 {:.1} = {:.1} µs: (cold - no-op) / raw RS256 = {:.2}x   (target <= 1.2x)  {}",
        r.cold.server_us,
        r.noop.server_us,
        r.rs256_signature_us,
        cold_budget,
        cold_ratio,
        verdict(r.cold.server_us <= cold_budget)
    );
    for (label, verify, noop) in [
        ("warm", warm_p99, noop_warm_p99),
        ("cold", cold_p99, noop_cold_p99),
    ] {
        println!(
            "  client p99 at half of {label} peak, Verify / no-op at the same rate (medians of {LATENCY_RUNS}) = {:.3} / {:.3} ms = {:.2}x   (target <= 1.5x)  {}",
            verify,
            noop,
            verify / noop,
            verdict(verify / noop <= 1.5)
        );
    }
    for (label, p99) in [("warm", warm_server_p99), ("cold", cold_server_p99)] {
        println!(
            "  verifier's own p99 at half of {label} peak (its histogram, median of {LATENCY_RUNS}) <= {} ms   (target <= 0.1 ms)  {}",
            bound(p99),
            verdict(bound(p99) <= 0.1)
        );
    }
    let per_token = r.memory.per_token_beyond_user();
    println!(
        "  memory per cached token beyond the shared user = {:.0} B   (target <= 1024 B)  {}",
        per_token,
        verdict(
            per_token <= 1024.0
                && r.memory.failed == 0
                && r.memory.reverify_hits == r.memory.tokens as u64,
        )
    );
}
