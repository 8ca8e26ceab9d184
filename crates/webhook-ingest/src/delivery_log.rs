//! The delivery log's writer (R-HOOK-08): each delivery hands its rows over and waits until
//! they are written; the rows of every delivery waiting at that moment go in one statement
//! (a group commit), so under load the log costs a fraction of a round trip per delivery and
//! at rest exactly one.

use std::sync::Arc;

use alter_core::{AppId, IdpId};
use alter_store::{DeliveryRecord, Store};
use tokio::sync::{mpsc, oneshot};

/// The most deliveries' rows one statement carries.
const MAX_BATCH: usize = 256;
/// Deliveries waiting for the writer before new ones wait for room.
const QUEUE: usize = 4096;

struct Pending {
    app: AppId,
    idp: IdpId,
    records: Vec<DeliveryRecord>,
    done: oneshot::Sender<Result<(), String>>,
}

/// A handle to the writer task; the task ends once every handle is dropped and the rows
/// already handed over are written.
pub(crate) struct DeliveryLog {
    queue: mpsc::Sender<Pending>,
}

impl DeliveryLog {
    pub fn spawn(store: Arc<dyn Store>) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write(store, pending));
        Self { queue }
    }

    /// Writes one delivery's rows; `Err` says why they could not be written.
    pub async fn record(
        &self,
        app: AppId,
        idp: IdpId,
        records: Vec<DeliveryRecord>,
    ) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let (done, written) = oneshot::channel();
        let pending = Pending {
            app,
            idp,
            records,
            done,
        };
        if self.queue.send(pending).await.is_err() {
            return Err("the delivery log writer has stopped".to_owned());
        }
        written
            .await
            .unwrap_or_else(|_| Err("the delivery log writer stopped before writing".to_owned()))
    }
}

async fn write(store: Arc<dyn Store>, mut pending: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut rows = Vec::new();
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        rows.clear();
        for delivery in &mut batch {
            let (app, idp) = (delivery.app, delivery.idp);
            rows.extend(
                std::mem::take(&mut delivery.records)
                    .into_iter()
                    .map(|record| (app, idp, record)),
            );
        }
        let result = store
            .record_deliveries(&rows)
            .await
            .map_err(|error| error.to_string());
        for delivery in batch.drain(..) {
            // A delivery whose request was abandoned no longer waits; nothing to tell it.
            let _ = delivery.done.send(result.clone());
        }
    }
}
