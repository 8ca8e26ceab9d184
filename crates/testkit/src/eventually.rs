//! Waiting for something that happens asynchronously (a record crossing the bus, a consumer
//! settling), polled with a short backoff and a hard bound, so a test fails saying what it was
//! waiting for and what it saw last instead of hanging or sleeping a fixed time.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The first pause between two checks; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause between two checks.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// What a check of [`eventually`] answers: done with a value, or not yet with what it saw.
pub trait Observation {
    /// What `eventually` returns once the check passes.
    type Value;
    /// What the check saw while not done; shown when the wait times out.
    type Pending: Debug;
    fn into_result(self) -> Result<Self::Value, Self::Pending>;
}

/// `Some(value)` is done; `None` is not yet (nothing to show).
impl<T> Observation for Option<T> {
    type Value = T;
    type Pending = NothingYet;
    fn into_result(self) -> Result<T, NothingYet> {
        self.ok_or(NothingYet)
    }
}

/// `Ok(value)` is done; `Err(observed)` is not yet, and `observed` is what the timeout shows.
impl<T, E: Debug> Observation for Result<T, E> {
    type Value = T;
    type Pending = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// A check answering `None` has nothing more to say.
#[derive(Debug)]
pub struct NothingYet;

/// Runs `check` until it is done and returns its value, pausing 1 ms, then twice as long each
/// time up to 50 ms, between checks. Panics once `timeout` has passed without success, naming
/// `what` was awaited and the last observation (or that the last check never returned).
///
/// `check` answers an `Option` (`None`: not yet) or a `Result` (`Err(observed)`: not yet).
pub async fn eventually<O, F, Fut>(what: &str, timeout: Duration, mut check: F) -> O::Value
where
    O: Observation,
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut pause = FIRST_PAUSE;
    let mut checks = 0u32;
    loop {
        checks += 1;
        let observed = match tokio::time::timeout_at(deadline, check()).await {
            Ok(observation) => observation.into_result(),
            Err(_) => panic!(
                "timed out after {timeout:?} waiting for {what}: check {checks} did not return in time"
            ),
        };
        match observed {
            Ok(value) => return value,
            Err(pending) => {
                let now = Instant::now();
                if now >= deadline {
                    panic!(
                        "timed out after {timeout:?} waiting for {what} ({checks} checks); last observation: {pending:?}"
                    );
                }
                tokio::time::sleep(pause.min(deadline - now)).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The panic message of a wait that is expected to time out.
    async fn timeout_message<F: Future<Output = ()> + Send + 'static>(wait: F) -> String {
        let panic = tokio::spawn(wait).await.unwrap_err().into_panic();
        match panic.downcast::<String>() {
            Ok(message) => *message,
            Err(_) => panic!("panicked with a non-string payload"),
        }
    }

    #[tokio::test]
    async fn returns_the_value_of_the_first_passing_check() {
        let calls = AtomicU32::new(0);
        let value = eventually("the third call", Duration::from_secs(5), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= 3 { Ok(n * 10) } else { Err(n) }
        })
        .await;
        assert_eq!(value, 30);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let some = eventually("an option", Duration::from_secs(5), || async { Some("x") }).await;
        assert_eq!(some, "x");
    }

    #[tokio::test]
    async fn a_timeout_names_what_was_awaited_and_the_last_observation() {
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let message = timeout_message(async move {
            eventually("three rows", Duration::from_millis(30), || {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Err::<(), _>(format!("{n} rows so far")) }
            })
            .await;
        })
        .await;
        let last = calls.load(Ordering::SeqCst);
        assert!(last > 1, "polled more than once: {last}");
        assert!(message.contains("waiting for three rows"), "{message}");
        assert!(
            message.contains(&format!("last observation: \"{last} rows so far\"")),
            "{message}"
        );

        let message = timeout_message(async {
            eventually("an option", Duration::from_millis(10), || async {
                None::<()>
            })
            .await;
        })
        .await;
        assert!(
            message.contains("last observation: NothingYet"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_check_that_never_returns_is_cut_off_at_the_timeout() {
        let message = timeout_message(async {
            eventually("a hung check", Duration::from_millis(20), || {
                std::future::pending::<Option<()>>()
            })
            .await;
        })
        .await;
        assert!(
            message.contains("check 1 did not return in time"),
            "{message}"
        );
    }
}
