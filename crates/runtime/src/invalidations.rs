//! Following `alter.invalidate.*` for a process-local cache (R-JWT-10): the verifier's token
//! and user caches, webhook-ingest's endpoint cache. Missed messages cannot be detected one
//! by one, so any trouble with the subscription — an unreadable message, a gap the bus
//! reports (slow subscriber, reconnect) — drops the whole cache. The moment the connection
//! drops, the cache is no longer trusted (every request reads the database) until it is
//! back: a NATS outage degrades to database reads, never to stale answers.

use std::sync::Arc;
use std::time::Duration;

use alter_bus::{BusError, EventBus, InvalidationNotice, Invalidations};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// A cache that invalidations keep honest.
pub trait InvalidationSink: Send + Sync + 'static {
    /// Whether the cache may be trusted: `true` while invalidations are being received.
    /// Either way, what is cached now is dropped (it may have missed something).
    fn set_live(&self, live: bool);
    /// One change, for one app.
    fn invalidate(&self, notice: &InvalidationNotice);
    /// Drops everything (a message may have been lost).
    fn invalidate_everything(&self);
}

/// Subscribes (retrying every 500 ms while NATS cannot be reached) and applies every
/// invalidation to `sink` until `shutdown`. The sink is live from the moment the first
/// subscription is in place; until then it is not.
pub async fn spawn_follower<S: InvalidationSink>(
    sink: Arc<S>,
    bus: Arc<dyn EventBus>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let first = match bus.subscribe_invalidations().await {
        Ok(first) => {
            sink.set_live(true);
            Some(first)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot subscribe to cache invalidations yet; serving without caches");
            sink.set_live(false);
            None
        }
    };
    tokio::spawn(follow(sink, bus, first, shutdown))
}

async fn follow<S: InvalidationSink>(
    sink: Arc<S>,
    bus: Arc<dyn EventBus>,
    first: Option<Invalidations>,
    shutdown: CancellationToken,
) {
    let mut subscription = first;
    loop {
        if let Some(mut stream) = subscription.take() {
            sink.set_live(true);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    item = stream.next() => match item {
                        Some(Ok(notice)) => sink.invalidate(&notice),
                        Some(Err(error @ BusError::Disconnected { .. })) => {
                            tracing::warn!(%error, "caches bypassed until the connection to NATS is back");
                            sink.set_live(false);
                        }
                        Some(Err(error @ BusError::MessagesMayBeLost { .. })) => {
                            // Connected again (or a slow subscriber): resync and trust again.
                            tracing::warn!(%error, "cache invalidations may be incomplete; dropping every cache");
                            sink.set_live(true);
                        }
                        Some(Err(error)) => {
                            // An unreadable message might have named any app: resync.
                            tracing::warn!(%error, "cache invalidations may be incomplete; dropping every cache");
                            sink.invalidate_everything();
                        }
                        None => break,
                    },
                }
            }
            tracing::warn!(
                "cache invalidation subscription ended; caches bypassed until resubscribed"
            );
        }
        sink.set_live(false);
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
