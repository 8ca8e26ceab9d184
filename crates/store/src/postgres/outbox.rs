//! The outbox over PostgreSQL: messages go in with the change's own transaction (one UNNEST
//! insert), and relays lease them with `FOR UPDATE SKIP LOCKED` so replicas share the work.

use std::sync::Arc;
use std::time::Duration;

use alter_core::AppId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, Row, Transaction};
use uuid::Uuid;

use super::{PgStore, corrupt};
use crate::error::StoreResult;
use crate::outbox::{
    OutboxBacklog, OutboxMessage, OutboxSignal, OutboxStore, OutboxTopic, PendingMessage,
    RequestKey,
};

/// Writes `messages` on the change's connection (inside its transaction).
pub(crate) async fn write_messages(
    conn: &mut PgConnection,
    messages: &[OutboxMessage],
) -> StoreResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let apps: Vec<Uuid> = messages.iter().map(|m| m.app_id.as_uuid()).collect();
    let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
    // The change's trace context travels with its side effects.
    let trace = alter_telemetry::trace::current_traceparent();
    sqlx::query(
        "INSERT INTO outbox (id, app_id, topic, payload, trace_context) \
         SELECT u.*, $5 FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bytea[]) AS u",
    )
    .bind(ids)
    .bind(apps)
    .bind(topics)
    .bind(payloads)
    .bind(trace)
    .execute(conn)
    .await?;
    Ok(())
}

impl PgStore {
    /// Writes the change's side effects and commits; wakes the relay when there were any.
    pub(crate) async fn commit_with(
        &self,
        mut tx: Transaction<'static, Postgres>,
        messages: Vec<OutboxMessage>,
    ) -> StoreResult<()> {
        write_messages(&mut tx, &messages).await?;
        tx.commit().await?;
        if !messages.is_empty() {
            self.signal.committed();
        }
        Ok(())
    }

    /// Claims `key` for a new resource `resource` within the transaction. `Some(id)` when the
    /// key was already used: the first call's resource (the caller answers with it). A key
    /// reused with other parameters is refused.
    pub(crate) async fn claim_request_key(
        tx: &mut PgConnection,
        app: Option<AppId>,
        operation: &str,
        key: &RequestKey,
        resource: Uuid,
    ) -> StoreResult<Option<Uuid>> {
        let app = app.map_or(Uuid::nil(), |a| a.as_uuid());
        let inserted = sqlx::query(
            "INSERT INTO request_keys (app_id, operation, request_id, fingerprint, resource_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING resource_id",
        )
        .bind(app)
        .bind(operation)
        .bind(&key.request_id)
        .bind(&key.fingerprint)
        .bind(resource)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_some() {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT fingerprint, resource_id FROM request_keys \
             WHERE app_id = $1 AND operation = $2 AND request_id = $3",
        )
        .bind(app)
        .bind(operation)
        .bind(&key.request_id)
        .fetch_one(&mut *tx)
        .await?;
        check_fingerprint(&row, operation, key)?;
        Ok(Some(row.try_get("resource_id")?))
    }
}

fn check_fingerprint(row: &PgRow, operation: &str, key: &RequestKey) -> StoreResult<()> {
    let fingerprint: String = row.try_get("fingerprint")?;
    key.check_reuse(&fingerprint, operation)
}

fn pending_from_row(row: &PgRow) -> StoreResult<PendingMessage> {
    let topic: String = row.try_get("topic")?;
    Ok(PendingMessage {
        seq: row.try_get("seq")?,
        message: OutboxMessage {
            id: row.try_get("id")?,
            app_id: AppId::from_uuid(row.try_get("app_id")?),
            topic: OutboxTopic::parse("outbox.topic", &topic).map_err(corrupt("outbox topic"))?,
            payload: row.try_get("payload")?,
        },
        created_at: row.try_get("created_at")?,
        trace_context: row.try_get("trace_context")?,
        attempts: row.try_get("attempts")?,
    })
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn lease_outbox(&self, limit: u32, lease: Duration) -> StoreResult<Vec<PendingMessage>> {
        let rows = sqlx::query(
            "UPDATE outbox SET leased_until = now() + $2 * interval '1 millisecond', \
                 attempts = attempts + 1 \
             WHERE seq IN (SELECT seq FROM outbox WHERE sent_at IS NULL \
                 AND (leased_until IS NULL OR leased_until < now()) \
                 ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING seq, id, app_id, topic, payload, created_at, attempts, trace_context",
        )
        .bind(i64::from(limit.max(1)))
        .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut pending = rows
            .iter()
            .map(pending_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        pending.sort_by_key(|p| p.seq);
        Ok(pending)
    }

    async fn mark_outbox_sent(&self, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE outbox SET sent_at = now(), leased_until = NULL WHERE seq = ANY($1)")
            .bind(seqs)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_outbox(&self, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET leased_until = NULL WHERE seq = ANY($1) AND sent_at IS NULL",
        )
        .bind(seqs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        let row = sqlx::query(
            "SELECT count(*) AS pending, min(created_at) AS oldest FROM outbox WHERE sent_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(OutboxBacklog {
            pending: row.try_get("pending")?,
            oldest: row.try_get::<Option<DateTime<Utc>>, _>("oldest")?,
        })
    }

    async fn purge_outbox(&self, sent_before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1")
            .bind(sent_before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn find_request_key(
        &self,
        app: Option<AppId>,
        operation: &str,
        key: &RequestKey,
    ) -> StoreResult<Option<Uuid>> {
        let row = sqlx::query(
            "SELECT fingerprint, resource_id FROM request_keys \
             WHERE app_id = $1 AND operation = $2 AND request_id = $3",
        )
        .bind(app.map_or(Uuid::nil(), |a| a.as_uuid()))
        .bind(operation)
        .bind(&key.request_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        check_fingerprint(&row, operation, key)?;
        Ok(Some(row.try_get("resource_id")?))
    }

    fn outbox_signal(&self) -> Arc<OutboxSignal> {
        self.signal.clone()
    }
}
