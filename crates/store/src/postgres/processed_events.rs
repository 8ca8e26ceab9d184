//! Processed event IDs over PostgreSQL.

use alter_core::{AppId, EventId};
use async_trait::async_trait;
use sqlx::PgConnection;

use super::PgStore;
use crate::error::StoreResult;
use crate::processed_events::ProcessedEvents;

/// Records the event as processed on `conn` (inside the caller's transaction); `false` when
/// it already was. A concurrent transaction recording the same event waits for this one and
/// then sees it recorded.
pub(crate) async fn mark_processed_on(
    conn: &mut PgConnection,
    app: AppId,
    consumer: &str,
    event: EventId,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO processed_events (app_id, consumer, event_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(app.as_uuid())
    .bind(consumer)
    .bind(event.as_uuid())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl ProcessedEvents for PgStore {
    async fn mark_processed(
        &self,
        app: AppId,
        consumer: &str,
        event: EventId,
    ) -> StoreResult<bool> {
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
