//! Processed event IDs over SQLite: PostgreSQL's insert-or-nothing, with `processed_at`
//! bound from Rust. A concurrent transaction recording the same event cannot interleave:
//! it waits for the write lock, then sees the row.

use alter_core::{AppId, EventId};
use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::{SqliteStore, now};
use crate::error::StoreResult;
use crate::processed_events::ProcessedEvents;

/// Records the event as processed on `conn` (inside the caller's transaction); `false` when
/// it already was.
pub(crate) async fn mark_processed_on(
    conn: &mut SqliteConnection,
    app: AppId,
    consumer: &str,
    event: EventId,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO processed_events (app_id, consumer, event_id, processed_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(app.as_uuid())
    .bind(consumer)
    .bind(event.as_uuid())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl ProcessedEvents for SqliteStore {
    async fn mark_processed(
        &self,
        app: AppId,
        consumer: &str,
        event: EventId,
    ) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        mark_processed_on(&mut conn, app, consumer, event).await
    }

    async fn is_processed(&self, app: AppId, consumer: &str, event: EventId) -> StoreResult<bool> {
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $2 AND app_id = $1 AND event_id = $3)",
        )
        .bind(app.as_uuid())
        .bind(consumer)
        .bind(event.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        Ok(found)
    }
}
