//! R-DIR-09: the per-IDP request budget, a token bucket every reader of one IDP shares, so a
//! sync never spends the customer's whole API quota and starves their other integrations.

use std::time::Duration;

use alter_core::IdpKind;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket of `per_minute` requests a minute, refilled continuously. It holds at most
/// one second's worth of requests (at least one), so any 60 s window sees at most
/// `per_minute` plus that small burst. Share it between the readers of one IDP with an `Arc`.
#[derive(Debug)]
pub struct RequestBudget {
    per_minute: u32,
    capacity: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RequestBudget {
    /// A budget of `n` requests per minute (0 is taken as 1).
    pub fn per_minute(n: u32) -> Self {
        let per_minute = n.max(1);
        let capacity = (f64::from(per_minute) / 60.0).floor().max(1.0);
        Self {
            per_minute,
            capacity,
            bucket: Mutex::new(Bucket {
                tokens: capacity,
                refilled_at: Instant::now(),
            }),
        }
    }

    /// Requests allowed per minute.
    pub fn requests_per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Most requests that may be sent at once before the rate applies.
    pub fn burst(&self) -> u32 {
        // capacity is a small whole number ≥ 1 (per_minute / 60).
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "capacity is a whole number between 1 and u32::MAX / 60"
        )]
        let burst = self.capacity as u32;
        burst
    }

    /// Waits until one request may be sent, and takes it. Waiters are served in turn (the
    /// bucket's lock is fair), so one busy reader cannot starve another.
    pub async fn acquire(&self) {
        let per_second = f64::from(self.per_minute) / 60.0;
        let mut bucket = self.bucket.lock().await;
        loop {
            let now = Instant::now();
            let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * per_second).min(self.capacity);
            bucket.refilled_at = now;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - bucket.tokens) / per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait.max(0.001))).await;
        }
    }
}

/// The default budget per IDP kind: half of the smallest published limit of the endpoints a
/// sync uses, so the customer keeps the other half.
///
/// * Auth0: 60/min. The Free plan's Management API limit is 2 requests/s sustained
///   (auth0.com/docs › Rate Limit Policy › Rate limit configurations › Free; paid plans allow
///   more). Large tenants are read through one users-export job, so few requests are needed.
/// * Clerk: 300/min. Backend API limits are per secret key: 100 requests / 10 s on
///   development instances, 1,000 / 10 s on production ones (clerk.com/docs › Rate limits).
/// * Okta: 50/min. `GET /api/v1/users` and `/api/v1/groups` allow 100/min each on the
///   smallest plan (Integrator Free; 500–600 on paid plans), and a service app gets 50 % of a
///   bucket by default (developer.okta.com › Management rate limits).
/// * Custom OIDC has no directory sync; 60/min is returned for completeness.
///
/// Admins with higher plans raise the budget per IDP.
pub const fn default_requests_per_minute(kind: IdpKind) -> u32 {
    match kind {
        IdpKind::Auth0 | IdpKind::CustomOidc => 60,
        IdpKind::Clerk => 300,
        IdpKind::Okta => 50,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn budget_lets_a_burst_through_then_paces_at_the_rate() {
        let budget = RequestBudget::per_minute(600); // 10/s, burst 10
        assert_eq!(budget.burst(), 10);
        let start = Instant::now();
        for _ in 0..10 {
            budget.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(200));
        for _ in 0..10 {
            budget.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn small_budgets_still_allow_one_request() {
        assert_eq!(RequestBudget::per_minute(0).requests_per_minute(), 1);
        assert_eq!(RequestBudget::per_minute(30).burst(), 1);
    }
}
