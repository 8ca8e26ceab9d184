//! One request to a provider the way every directory reader sends it: budget first, a
//! timeout, rate-limit pacing (429 waits until the provider's reset, and a pause when the
//! remaining count reaches 0), and a couple of retries with backoff on 5xx and network errors.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alter_core::IdpKind;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant;

use super::budget::RequestBudget;
use super::{Fail, ReaderStats};
use crate::http::describe;

/// Timeout of every API request (connect + answer + body).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of an Auth0 users-export download, body included (the file is streamed while the
/// caller consumes pages).
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Retries after a 5xx answer or a network error (so three attempts in all).
pub const SERVER_ERROR_RETRIES: u32 = 2;
/// 429 answers tolerated for one request before giving up as `Unavailable`.
pub const RATE_LIMIT_RETRIES: u32 = 10;
/// Longest single wait for a rate-limit reset.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);
/// Largest API answer read.
const MAX_API_BODY: usize = 32 * 1024 * 1024;

/// A provider's answer other than 429 and 5xx.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, Fail> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Fail::Malformed(format!(
                "{what}: the answer is not the expected JSON ({e}); the URL may not point at the provider's API"
            ))
        })
    }

    /// A short, secret-free summary of an error answer: status and the provider's own
    /// message fields (never the whole body).
    pub(crate) fn summary(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
                .map(|s| s.chars().take(300).collect::<String>())
        };
        let code = pick(&["errorCode", "error"]);
        let message = pick(&["message", "error_description", "errorSummary"]).or_else(|| {
            v.get("errors")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("long_message").or_else(|| e.get("message")))
                .and_then(serde_json::Value::as_str)
                .map(|s| s.chars().take(300).collect())
        });
        match (code, message) {
            (Some(c), Some(m)) => format!("HTTP {} {c}: {m}", self.status),
            (Some(c), None) => format!("HTTP {} {c}", self.status),
            (None, Some(m)) => format!("HTTP {}: {m}", self.status),
            (None, None) => format!("HTTP {}", self.status),
        }
    }
}

/// Sends requests for one reader and keeps its statistics.
pub(crate) struct Transport {
    http: reqwest::Client,
    budget: Arc<RequestBudget>,
    kind: IdpKind,
    /// Set when the provider said no requests remain in its window: wait until then.
    paused_until: Option<Instant>,
    pub(crate) stats: ReaderStats,
}

impl Transport {
    pub(crate) fn new(http: reqwest::Client, budget: Arc<RequestBudget>, kind: IdpKind) -> Self {
        Self {
            http,
            budget,
            kind,
            paused_until: None,
            stats: ReaderStats::default(),
        }
    }

    /// Sends the request `build` makes (called again for each attempt) and reads its body.
    /// 429 and 5xx never come back: they are waited out or retried, then `Unavailable`.
    pub(crate) async fn send<F>(&mut self, what: &str, build: F) -> Result<Reply, Fail>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let mut failures = 0;
        loop {
            let response = self.send_once(what, &build, REQUEST_TIMEOUT).await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            match crate::http::read_limited(response, MAX_API_BODY).await {
                Ok(body) => {
                    return Ok(Reply {
                        status,
                        headers,
                        body,
                    });
                }
                Err(reason) => {
                    failures += 1;
                    self.after_failure(what, &reason, failures).await?;
                }
            }
        }
    }

    /// Like [`Self::send`] for a download whose body the caller streams: returns the
    /// response once its status is neither 429 nor 5xx.
    pub(crate) async fn send_streamed<F>(
        &mut self,
        what: &str,
        build: F,
    ) -> Result<reqwest::Response, Fail>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.send_once(what, &build, DOWNLOAD_TIMEOUT).await
    }

    /// Attempts until an answer that is neither 429 nor 5xx (or patience runs out).
    async fn send_once<F>(
        &mut self,
        what: &str,
        build: &F,
        timeout: Duration,
    ) -> Result<reqwest::Response, Fail>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let mut failures = 0;
        let mut limited = 0;
        loop {
            self.pace().await;
            self.stats.requests += 1;
            let result = build(&self.http).timeout(timeout).send().await;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    failures += 1;
                    self.after_failure(what, &describe(&e), failures).await?;
                    continue;
                }
            };
            let status = response.status().as_u16();
            self.note_remaining(response.headers());
            if status == 429 {
                self.stats.rate_limited += 1;
                limited += 1;
                if limited > RATE_LIMIT_RETRIES {
                    return Err(Fail::Unavailable(format!(
                        "{what}: the provider kept answering 429 (rate limited) after {RATE_LIMIT_RETRIES} waits for its reset; another integration may be using the quota, so retry the run later or lower the request budget"
                    )));
                }
                let wait = rate_limit_wait(response.headers(), limited);
                tracing::debug!(
                    idp_kind = self.kind.as_str(),
                    what,
                    wait_ms = wait.as_millis(),
                    "rate limited; waiting for the reset"
                );
                self.wait(wait).await;
                continue;
            }
            if status >= 500 {
                failures += 1;
                self.after_failure(what, &format!("HTTP {status}"), failures)
                    .await?;
                continue;
            }
            return Ok(response);
        }
    }

    /// Backs off after a failed attempt, or gives up once the retries are spent.
    async fn after_failure(&mut self, what: &str, reason: &str, failures: u32) -> Result<(), Fail> {
        if failures > SERVER_ERROR_RETRIES {
            return Err(Fail::Unavailable(format!(
                "{what} failed {failures} times (last: {reason}); the provider is unreachable or failing, the run can be retried later"
            )));
        }
        self.stats.retries += 1;
        tracing::debug!(
            idp_kind = self.kind.as_str(),
            what,
            reason,
            failures,
            "retrying"
        );
        let backoff = Duration::from_millis(250 * 2u64.pow(failures - 1)) + jitter(250);
        tokio::time::sleep(backoff).await;
        Ok(())
    }

    /// Waits for a proactive pause, then for the budget.
    async fn pace(&mut self) {
        if let Some(until) = self.paused_until.take() {
            let now = Instant::now();
            if until > now {
                self.wait(until - now).await;
            }
        }
        let start = Instant::now();
        self.budget.acquire().await;
        self.stats.waited += start.elapsed();
    }

    async fn wait(&mut self, d: Duration) {
        tokio::time::sleep(d).await;
        self.stats.waited += d;
    }

    /// When the provider reports 0 requests left in its window, pauses until its reset.
    fn note_remaining(&mut self, headers: &HeaderMap) {
        let remaining = header_u64(
            headers,
            &["x-ratelimit-remaining", "x-rate-limit-remaining"],
        );
        if remaining == Some(0)
            && let Some(wait) = until_reset(headers)
        {
            self.paused_until = Some(Instant::now() + wait.min(MAX_RATE_LIMIT_WAIT) + jitter(100));
        }
    }
}

fn header_u64(headers: &HeaderMap, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        headers
            .get(*n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    })
}

/// Time until the epoch-seconds reset of Auth0 (`x-ratelimit-reset`) or Okta
/// (`X-Rate-Limit-Reset`); `None` without the header, zero when it is already past.
fn until_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset = header_u64(headers, &["x-ratelimit-reset", "x-rate-limit-reset"])?;
    let reset_at = UNIX_EPOCH + Duration::from_secs(reset);
    Some(
        reset_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// How long to wait after the `attempt`-th 429: until the provider's reset (Auth0/Okta epoch
/// seconds, Clerk `Retry-After` seconds) plus jitter, else exponential backoff from 1 s;
/// never more than [`MAX_RATE_LIMIT_WAIT`].
pub(crate) fn rate_limit_wait(headers: &HeaderMap, attempt: u32) -> Duration {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let told = retry_after.or_else(|| until_reset(headers).filter(|d| !d.is_zero()));
    let base = told.unwrap_or_else(|| {
        Duration::from_secs(1) * 2u32.saturating_pow(attempt.saturating_sub(1).min(6))
    });
    (base + jitter(250)).min(MAX_RATE_LIMIT_WAIT)
}

/// An `application/x-www-form-urlencoded` body on `request`.
pub(crate) fn with_form(
    request: reqwest::RequestBuilder,
    pairs: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    request
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
}

/// A random delay in `[0, max_ms)` milliseconds.
pub(crate) fn jitter(max_ms: u64) -> Duration {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let r = u64::from(u16::from_le_bytes([bytes[0], bytes[1]]));
    Duration::from_millis(r % max_ms.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_429_waits_for_retry_after_or_the_epoch_reset_else_backs_off() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let w = rate_limit_wait(&h, 1);
        assert!(w >= Duration::from_secs(3) && w < Duration::from_millis(3300));

        let mut h = HeaderMap::new();
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + 5;
        h.insert(
            "x-rate-limit-reset",
            HeaderValue::from_str(&reset.to_string()).unwrap_or(HeaderValue::from_static("0")),
        );
        let w = rate_limit_wait(&h, 1);
        assert!(
            w >= Duration::from_secs(3) && w <= Duration::from_secs(6),
            "{w:?}"
        );

        let none = HeaderMap::new();
        assert!(rate_limit_wait(&none, 1) < Duration::from_millis(1300));
        assert!(rate_limit_wait(&none, 3) >= Duration::from_secs(4));
        assert!(rate_limit_wait(&none, 30) <= MAX_RATE_LIMIT_WAIT);

        let mut far = HeaderMap::new();
        far.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(rate_limit_wait(&far, 1), MAX_RATE_LIMIT_WAIT);
    }
}
