//! What the verifier's caches cost in memory: its resident set (`VmRSS`) is read after a
//! warm-up, after every user's first token (each user resolved once, with one cached answer),
//! and after every further token of those users (cached answers sharing the resolved user);
//! the growth divided by what was added is the cost of each.

use std::sync::Arc;
use std::time::Duration;

use crate::CONCURRENCY;
use crate::load::closed_loop;
use crate::process::ServerProcess;

/// Callers in flight while users are provisioned (as many as the first sign-in runs use).
const PROVISIONING_IN_FLIGHT: usize = 8;

/// Resident set sizes at each step, in bytes.
pub struct CacheMemory {
    pub users: usize,
    /// Cached tokens in all, `users` of them first tokens.
    pub tokens: usize,
    pub baseline: u64,
    pub with_users: u64,
    pub with_tokens: u64,
    /// After every token was verified again.
    pub after_reverify: u64,
    /// Of the `tokens` verified again, how many the token cache answered.
    pub reverify_hits: u64,
    /// Calls that failed in these runs, and the first failure.
    pub failed: usize,
    pub first_error: Option<String>,
}

impl CacheMemory {
    /// Per resolved user, with its first cached token.
    pub fn per_user(&self) -> f64 {
        growth(self.baseline, self.with_users) / self.users as f64
    }

    /// Per further cached token of an already resolved user: what a cached token costs
    /// beyond the user it shares.
    pub fn per_token_beyond_user(&self) -> f64 {
        growth(self.with_users, self.with_tokens) / (self.tokens - self.users) as f64
    }

    /// Per cached token, users included (the whole growth over every token).
    pub fn per_token_all_in(&self) -> f64 {
        growth(self.baseline, self.with_tokens) / self.tokens as f64
    }
}

fn growth(from: u64, to: u64) -> f64 {
    to as f64 - from as f64
}

/// `tokens[u]` are user `u`'s tokens, none verified before; `warmup` are tokens of users
/// the store knows, to fill connections, pools and buffers before the baseline is read.
pub async fn cached_tokens(
    server: &ServerProcess,
    app_id: &str,
    warmup: Arc<Vec<String>>,
    tokens: &[Vec<String>],
) -> anyhow::Result<CacheMemory> {
    let mut runs = vec![
        closed_loop(
            server,
            app_id,
            warmup,
            Some(Duration::from_secs(1)),
            CONCURRENCY,
        )
        .await?,
    ];
    let baseline = settled_rss(server).await?;

    let first: Vec<String> = tokens.iter().map(|t| t[0].clone()).collect();
    runs.push(
        closed_loop(
            server,
            app_id,
            Arc::new(first),
            None,
            PROVISIONING_IN_FLIGHT,
        )
        .await?,
    );
    let with_users = settled_rss(server).await?;

    // Each user's second token, then each user's third, …
    let per_user = tokens.iter().map(Vec::len).max().unwrap_or(0);
    let rest: Vec<String> = (1..per_user)
        .flat_map(|k| tokens.iter().filter_map(move |t| t.get(k).cloned()))
        .collect();
    runs.push(closed_loop(server, app_id, Arc::new(rest), None, CONCURRENCY).await?);
    let with_tokens = settled_rss(server).await?;

    let all: Vec<String> = tokens.iter().flatten().cloned().collect();
    let count = all.len();
    let hits_before = server.token_cache_hits()?;
    runs.push(closed_loop(server, app_id, Arc::new(all), None, CONCURRENCY).await?);
    let reverify_hits = server.token_cache_hits()? - hits_before;
    let after_reverify = settled_rss(server).await?;

    Ok(CacheMemory {
        users: tokens.len(),
        tokens: count,
        baseline,
        with_users,
        with_tokens,
        after_reverify,
        reverify_hits,
        failed: runs.iter().map(|r| r.failed).sum(),
        first_error: runs.into_iter().find_map(|r| r.first_error),
    })
}

/// The RSS once the last calls' buffers were released (the outbox relay publishes the
/// provisioning records within its poll interval of 1 s).
async fn settled_rss(server: &ServerProcess) -> anyhow::Result<u64> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.rss_bytes()
}
