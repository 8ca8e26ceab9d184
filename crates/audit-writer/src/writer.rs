//! The consumer loop: pulls audit records from `ALTER_AUDIT`, groups them into batches, appends
//! each app's share in one store call and only then acks it, so a record is acked only once it
//! is in the trail (R-AUD-01) and a redelivered one is dropped by event ID (R-AUD-02).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alter_bus::consumers::AUDIT_WRITER;
use alter_bus::{AuditRecord, BusError, Deliveries, Delivery, EventBus};
use alter_core::AppId;
use alter_runtime::CancellationToken;
use alter_store::{AuditStore, NewAuditEvent, StoreError};
use futures::StreamExt;
use futures::future::join_all;
use tokio::time::Instant;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::record::to_new_event;

/// How long to wait before re-opening the consumer after its stream ended or failed to open.
const REOPEN_AFTER: Duration = Duration::from_millis(500);

/// Appends audit records from the bus to the trail in batches; see the module docs.
pub struct AuditWriter {
    store: Arc<dyn AuditStore>,
    batch_size: usize,
    batch_wait: Duration,
    retry_delay: Duration,
    metrics: Metrics,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("batch_size", &self.batch_size)
            .field("batch_wait", &self.batch_wait)
            .field("retry_delay", &self.retry_delay)
            .finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// A writer into `store`, batching as `settings` says.
    pub fn new(store: Arc<dyn AuditStore>, settings: &Settings) -> Self {
        Self {
            store,
            batch_size: settings.batch_size.max(1),
            batch_wait: settings.batch_wait(),
            retry_delay: settings.retry_delay(),
            metrics: Metrics::new(),
        }
    }

    /// Opens the durable `audit-writer` consumer; call it before [`run`](Self::run) so start-up
    /// fails when the consumer cannot be created.
    pub async fn open(bus: &dyn EventBus) -> Result<Deliveries<AuditRecord>, BusError> {
        bus.audit_consumer(AUDIT_WRITER).await
    }

    /// Writes batches from `first` until `shutdown`, re-opening the consumer whenever its
    /// stream ends. A batch being collected when `shutdown` fires is still written.
    pub async fn run(
        self,
        bus: Arc<dyn EventBus>,
        first: Deliveries<AuditRecord>,
        shutdown: CancellationToken,
    ) {
        let mut deliveries = Some(first);
        loop {
            if let Some(stream) = deliveries.take() {
                if self.drain(stream, &shutdown).await.is_stopped() {
                    return;
                }
                tracing::warn!("audit consumer stream ended; re-opening it");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(REOPEN_AFTER) => {}
            }
            match Self::open(bus.as_ref()).await {
                Ok(stream) => deliveries = Some(stream),
                Err(error) => tracing::warn!(%error, "cannot open the audit consumer; retrying"),
            }
        }
    }

    /// Collects and writes batches until the stream ends or `shutdown` fires.
    async fn drain(
        &self,
        mut stream: Deliveries<AuditRecord>,
        shutdown: &CancellationToken,
    ) -> Drained {
        loop {
            // Wait for the first record of the next batch.
            let first = tokio::select! {
                () = shutdown.cancelled() => return Drained::Stopped,
                item = stream.next() => match item {
                    None => return Drained::Ended,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "skipping an unreadable audit delivery");
                        continue;
                    }
                    Some(Ok(delivery)) => delivery,
                },
            };
            let mut batch = vec![first];
            let deadline = Instant::now() + self.batch_wait;
            let mut outcome = Drained::Continue;
            while batch.len() < self.batch_size {
                tokio::select! {
                    () = shutdown.cancelled() => { outcome = Drained::Stopped; break; }
                    () = tokio::time::sleep_until(deadline) => break,
                    item = stream.next() => match item {
                        None => { outcome = Drained::Ended; break; }
                        Some(Err(error)) => tracing::warn!(%error, "skipping an unreadable audit delivery"),
                        Some(Ok(delivery)) => batch.push(delivery),
                    },
                }
            }
            self.write(batch).await;
            if !matches!(outcome, Drained::Continue) {
                return outcome;
            }
        }
    }

    /// Appends a batch, one store call per app (apps in parallel), then settles each app's
    /// deliveries together.
    async fn write(&self, batch: Vec<Delivery<AuditRecord>>) {
        let mut by_app: HashMap<AppId, Vec<Delivery<AuditRecord>>> = HashMap::new();
        for delivery in batch {
            by_app
                .entry(delivery.event.app_id)
                .or_default()
                .push(delivery);
        }
        join_all(
            by_app
                .into_iter()
                .map(|(app, deliveries)| self.write_app(app, deliveries)),
        )
        .await;
    }

    async fn write_app(&self, app: AppId, deliveries: Vec<Delivery<AuditRecord>>) {
        let events: Vec<NewAuditEvent> =
            deliveries.iter().map(|d| to_new_event(&d.event)).collect();
        let count = events.len() as u64;
        // One span per record, in the trace of the change that produced it, lasting as long
        // as the batch's append.
        let spans: Vec<tracing::Span> = deliveries
            .iter()
            .map(|d| {
                let span = tracing::info_span!(
                    "audit.write",
                    event_id = %d.event.event_id,
                    app_id = %app,
                    batch = count,
                );
                alter_telemetry::trace::set_parent(&span, d.trace_context());
                span
            })
            .collect();
        let result = self.store.append_audit_events(app, &events).await;
        drop(spans);
        match result {
            Ok(outcome) => {
                self.metrics.appended.increment(outcome.appended);
                let now = chrono::Utc::now();
                for d in &deliveries {
                    let lag = (now - d.event.occurred_at).as_seconds_f64().max(0.0);
                    self.metrics.lag_seconds.record(lag);
                }
                self.metrics.duplicate.increment(outcome.duplicates);
                // Written already, so an ack that is lost (it is not confirmed, to keep the
                // writer streaming) costs only a redelivery, dropped as a duplicate.
                let acks = join_all(deliveries.iter().map(|d| d.ack_unconfirmed())).await;
                for error in acks.into_iter().filter_map(Result::err) {
                    tracing::warn!(app_id = %app, %error, "could not ack a written audit record");
                }
            }
            Err(StoreError::NotFound { what }) => {
                // The app does not exist (or was removed): retrying cannot succeed.
                self.metrics.failed.increment(count);
                tracing::error!(app_id = %app, count, what, "dropping audit records for an unknown app");
                settle_all(&deliveries, |d| d.term()).await;
            }
            Err(error) => {
                self.metrics.failed.increment(count);
                tracing::error!(
                    app_id = %app,
                    count,
                    %error,
                    retry_in_ms = self.retry_delay.as_millis() as u64,
                    "could not append audit records; they will be redelivered"
                );
                let delay = Some(self.retry_delay);
                settle_all(&deliveries, |d| d.nak(delay)).await;
            }
        }
    }
}

/// Settles every delivery concurrently with `settle`, logging failures (an unsettled delivery
/// is redelivered after the ack wait anyway).
async fn settle_all<'a, F, Fut>(deliveries: &'a [Delivery<AuditRecord>], settle: F)
where
    F: Fn(&'a Delivery<AuditRecord>) -> Fut,
    Fut: Future<Output = Result<(), BusError>>,
{
    for error in join_all(deliveries.iter().map(settle))
        .await
        .into_iter()
        .filter_map(Result::err)
    {
        tracing::warn!(%error, "could not settle an audit delivery");
    }
}

/// Why [`AuditWriter::drain`] returned.
enum Drained {
    Continue,
    Stopped,
    Ended,
}

impl Drained {
    fn is_stopped(&self) -> bool {
        matches!(self, Drained::Stopped)
    }
}
