//! The two ways the driver loads a server: closed loop (a fixed number of callers, each
//! calling again as soon as answered: peak throughput, or latency at a given concurrency) and
//! open loop (calls started at a fixed rate whatever the answers do: latency under load).
//! Both read the server's CPU time and, for the verifier, its own latency histogram around
//! the run, so every run says what the server spent beside what the client saw. A failed call
//! is counted (and the first error kept) rather than ending the benchmark: the figures are
//! over the calls answered, and the report names every run that had failures.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alter_proto::identity::v1::VerifyRequest;
use alter_proto::identity::v1::verifier_client::VerifierClient;
use tonic::transport::Channel;

use crate::process::ServerProcess;

/// One run against one server.
pub struct Run {
    /// Calls answered per second over the run.
    pub rate: f64,
    /// Calls answered.
    pub calls: usize,
    /// Calls that failed, and the first failure.
    pub failed: usize,
    pub first_error: Option<String>,
    /// The server's CPU µs per call (utime + stime over the run / calls).
    pub server_us: f64,
    /// Client-observed latency, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The server's own time in Verify (its histogram) under which 50 % / 99 % of these
    /// calls finished: the upper bound of the bucket holding that percentile. None for the
    /// no-op server, which keeps no histogram.
    pub server_p50_ms: Option<f64>,
    pub server_p99_ms: Option<f64>,
}

/// Reads taken before a run, finished into a [`Run`] after it.
struct Before {
    cpu: f64,
    histogram: Option<Vec<(f64, u64)>>,
}

impl Before {
    fn read(server: &ServerProcess) -> anyhow::Result<Self> {
        Ok(Self {
            cpu: server.cpu_seconds()?,
            histogram: server.server_histogram()?,
        })
    }

    fn finish(
        self,
        server: &ServerProcess,
        outcomes: Vec<Outcome>,
        elapsed: Duration,
    ) -> anyhow::Result<Run> {
        let cpu = server.cpu_seconds()? - self.cpu;
        let after = server.server_histogram()?;
        let mut latencies = Vec::with_capacity(outcomes.len());
        let (mut failed, mut first_error) = (0, None);
        for outcome in outcomes {
            match outcome {
                Ok(latency) => latencies.push(latency),
                Err(error) => {
                    failed += 1;
                    first_error.get_or_insert(error);
                }
            }
        }
        let calls = latencies.len();
        anyhow::ensure!(
            calls > 0,
            "no call of the run was answered ({failed} failed; first: {})",
            first_error.unwrap_or_default()
        );
        latencies.sort();
        let pct =
            |p: f64| latencies[((calls as f64 * p) as usize).min(calls - 1)].as_secs_f64() * 1e3;
        let server_pct = |p: f64| match (&self.histogram, &after) {
            (Some(before), Some(after)) => Some(histogram_percentile(before, after, p)),
            _ => None,
        };
        Ok(Run {
            rate: calls as f64 / elapsed.as_secs_f64(),
            calls,
            failed,
            first_error,
            server_us: cpu * 1e6 / calls as f64,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            server_p50_ms: server_pct(0.50),
            server_p99_ms: server_pct(0.99),
        })
    }
}

/// A call's latency, or why it failed.
type Outcome = Result<Duration, String>;

/// One Verify call on `client`.
async fn call(
    client: &mut VerifierClient<Channel>,
    app_id: String,
    token: String,
) -> Result<(), String> {
    client
        .verify(VerifyRequest { app_id, token })
        .await
        .map(drop)
        .map_err(|status| format!("{status:?}"))
}

/// `concurrency` callers spread over the server's connections, each looping: over `tokens`
/// once (duration None) or round-robin for `duration`.
pub async fn closed_loop(
    server: &ServerProcess,
    app_id: &str,
    tokens: Arc<Vec<String>>,
    duration: Option<Duration>,
    concurrency: usize,
) -> anyhow::Result<Run> {
    let next = Arc::new(AtomicUsize::new(0));
    let before = Before::read(server)?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let mut client = VerifierClient::new(server.channels[w % server.channels.len()].clone());
        let (tokens, next, app_id) = (tokens.clone(), next.clone(), app_id.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut outcomes: Vec<Outcome> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let token = match duration {
                    None if i >= tokens.len() => break,
                    None => &tokens[i],
                    Some(d) => {
                        if start.elapsed() >= d {
                            break;
                        }
                        &tokens[i % tokens.len()]
                    }
                };
                let sent = Instant::now();
                let outcome = call(&mut client, app_id.clone(), token.clone()).await;
                outcomes.push(outcome.map(|()| sent.elapsed()));
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await?);
    }
    before.finish(server, outcomes, start.elapsed())
}

/// Open-loop load at `rate` calls/s for `duration`. A pacing thread (sleeping, not spinning:
/// the machine has two cores) starts each call at its scheduled instant — tokio's timer has
/// millisecond granularity, which would send calls in bursts — and latency is measured from
/// that scheduled instant, so a stalled server cannot hide its queueing (no coordinated
/// omission).
pub async fn open_loop(
    server: &ServerProcess,
    app_id: &str,
    tokens: Arc<Vec<String>>,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Run> {
    let before = Before::read(server)?;
    let interval = 1.0 / rate.max(1.0);
    let channels = server.channels.clone();
    let app_id = app_id.to_owned();
    let runtime = tokio::runtime::Handle::current();
    let began = Instant::now();
    let pacer = std::thread::spawn(move || {
        let start = Instant::now();
        let mut calls = Vec::new();
        for i in 0usize.. {
            let offset = Duration::from_secs_f64(interval * i as f64);
            if offset >= duration {
                break;
            }
            let scheduled = start + offset;
            let now = Instant::now();
            if scheduled > now {
                std::thread::sleep(scheduled - now);
            }
            let mut client = VerifierClient::new(channels[i % channels.len()].clone());
            let token = tokens[i % tokens.len()].clone();
            let app_id = app_id.clone();
            calls.push(runtime.spawn(async move {
                let outcome = call(&mut client, app_id, token).await;
                outcome.map(|()| scheduled.elapsed())
            }));
        }
        calls
    });
    let calls = tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("pacer panicked"))?;
    let mut outcomes = Vec::with_capacity(calls.len());
    for t in calls {
        outcomes.push(t.await?);
    }
    before.finish(server, outcomes, began.elapsed())
}

/// The bucket bound (ms) under which `p` of the calls between two histogram readings finished.
fn histogram_percentile(before: &[(f64, u64)], after: &[(f64, u64)], p: f64) -> f64 {
    let delta: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, n)| {
            (
                *le,
                n - before.iter().find(|(b, _)| b == le).map_or(0, |(_, m)| *m),
            )
        })
        .collect();
    let total = delta.last().map_or(0, |(_, n)| *n) as f64;
    delta
        .iter()
        .find(|(_, n)| *n as f64 >= total * p)
        .map_or(f64::INFINITY, |(le, _)| *le * 1e3)
}

/// The median of some runs' values (the middle one of an odd count).
pub fn median(runs: &[Run], value: impl Fn(&Run) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(value).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
