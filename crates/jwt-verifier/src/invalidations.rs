//! Follows `alter.invalidate.*` so a revocation, suspension or deprovisioning is visible to
//! the very next verify (R-JWT-10). Missed messages cannot be detected one by one, so any
//! trouble with the subscription — an unreadable message, a gap the bus reports (slow
//! subscriber, reconnect) — drops every cache. The moment the connection drops, caches are
//! no longer trusted (every call reads the database) until it is back; a NATS outage
//! degrades to database reads, never to stale grants.

use std::sync::Arc;
use std::time::Duration;

use alter_bus::{BusError, EventBus, Invalidations};
use alter_runtime::CancellationToken;
use futures::StreamExt;

use crate::verifier::Verifier;

const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// Applies invalidations from `first` (already subscribed) and resubscribes whenever the
/// subscription ends or fails, until `shutdown`.
pub(crate) async fn follow(
    verifier: Arc<Verifier>,
    bus: Arc<dyn EventBus>,
    first: Invalidations,
    shutdown: CancellationToken,
) {
    let mut subscription = Some(first);
    loop {
        if let Some(mut stream) = subscription.take() {
            verifier.set_live(true);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    item = stream.next() => match item {
                        Some(Ok(notice)) => verifier.invalidate(&notice),
                        Some(Err(error @ BusError::Disconnected { .. })) => {
                            tracing::warn!(%error, "caches bypassed until the connection to NATS is back");
                            verifier.set_live(false);
                        }
                        Some(Err(error @ BusError::MessagesMayBeLost { .. })) => {
                            // Connected again (or a slow subscriber): resync and trust again.
                            tracing::warn!(%error, "cache invalidations may be incomplete; dropping every cache");
                            verifier.set_live(true);
                        }
                        Some(Err(error)) => {
                            // An unreadable message might have named any app, and a reported gap
                            // (slow subscriber, reconnect) may have swallowed any: resync.
                            tracing::warn!(%error, "cache invalidations may be incomplete; dropping every cache");
                            verifier.invalidate_everything();
                        }
                        None => break,
                    },
                }
            }
            tracing::warn!(
                "cache invalidation subscription ended; caches bypassed until resubscribed"
            );
        }
        verifier.set_live(false);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
        }
        match bus.subscribe_invalidations().await {
            Ok(stream) => subscription = Some(stream),
            Err(error) => {
                tracing::warn!(%error, "cannot subscribe to cache invalidations; retrying")
            }
        }
    }
}
