//! The audit trail over SQLite. An append reads the chain's head and inserts its rows —
//! numbered, linked and hashed in Rust by [`audit_chain`](crate::audit_chain), as on
//! PostgreSQL — inside one `BEGIN IMMEDIATE` transaction: writers are serialised, so no
//! other append runs between the head read and the insert and the chain never forks. Every
//! row is hash version 2 (the schema refuses any other); the verifier streams the trail.

use std::collections::HashSet;

use alter_core::{AppId, EventId, EventSource};
use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::Row;
use uuid::Uuid;

use super::outbox::json_list;
use super::{SqliteStore, now};
use crate::audit::{
    AppendOutcome, AuditEvent, AuditQuery, AuditStore, ChainVerification, NewAuditEvent,
    audit_from_row, events_to_append,
};
use crate::audit_chain::{ChainHead, ChainVerifier, chain_rows, to_stored_precision};
use crate::common::{missing_on_foreign_key, page_limit};
use crate::error::StoreResult;

/// A JSON array of UUID strings as the BLOBs the tables store, for `IN (…)`.
macro_rules! uuid_blobs {
    ($param:literal) => {
        concat!(
            "SELECT unhex(replace(value, '-', '')) FROM json_each(",
            $param,
            ")"
        )
    };
}

/// One chained row; the caller binds every column.
const APPEND: &str = concat!(
    "INSERT INTO audit_events (",
    crate::audit_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);

/// The whole trail in chain order.
const CHAIN: &str = concat!(
    "SELECT ",
    crate::audit_columns!(),
    " FROM audit_events WHERE app_id = $1 ORDER BY seq"
);

/// The app's last row (or the genesis head) and which of `events` it already recorded,
/// read inside the append's write transaction.
async fn head_and_recorded(
    tx: &mut sqlx::SqliteConnection,
    app: AppId,
    events: &[NewAuditEvent],
) -> StoreResult<(ChainHead, HashSet<EventId>)> {
    let head = sqlx::query(
        "SELECT seq, hash FROM audit_events WHERE app_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(app.as_uuid())
    .fetch_optional(&mut *tx)
    .await?;
    let head = match head {
        Some(row) => ChainHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        },
        None => ChainHead::genesis(),
    };
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id.as_uuid()).collect();
    let recorded: Vec<Uuid> = sqlx::query_scalar(concat!(
        "SELECT event_id FROM audit_events WHERE app_id = $1 AND event_id IN (",
        uuid_blobs!("$2"),
        ")"
    ))
    .bind(app.as_uuid())
    .bind(json_list(&ids)?)
    .fetch_all(&mut *tx)
    .await?;
    Ok((head, recorded.into_iter().map(EventId::from_uuid).collect()))
}

/// Inserts the chained rows on the append's transaction.
async fn insert_rows(
    tx: &mut sqlx::SqliteConnection,
    app: AppId,
    rows: &[AuditEvent],
) -> StoreResult<()> {
    for row in rows {
        sqlx::query(APPEND)
            .bind(row.app_id.as_uuid())
            .bind(row.seq)
            .bind(row.event_id.as_uuid())
            .bind(&row.kind)
            .bind(row.source.as_str())
            .bind(row.user_id.map(|u| u.as_uuid()))
            .bind(row.occurred_at)
            .bind(row.recorded_at)
            .bind(row.detail.to_string())
            .bind(row.prev_hash.as_slice())
            .bind(row.hash.as_slice())
            .bind(row.hash_version.number())
            .execute(&mut *tx)
            .await
            .map_err(missing_on_foreign_key(|| format!("app {app}")))?;
    }
    Ok(())
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit_events(
        &self,
        app: AppId,
        events: &[NewAuditEvent],
    ) -> StoreResult<AppendOutcome> {
        let mut tx = self.write_tx().await?;
        let (head, recorded) = head_and_recorded(&mut tx, app, events).await?;
        let fresh = events_to_append(events, &recorded);
        let rows = chain_rows(app, &head, now(), &fresh);
        insert_rows(&mut tx, app, &rows).await?;
        tx.commit().await?;
        let appended = rows.len() as u64;
        Ok(AppendOutcome {
            appended,
            duplicates: events.len() as u64 - appended,
            last_seq: rows.last().map_or(head.seq, |r| r.seq),
        })
    }

    async fn list_audit_events(
        &self,
        app: AppId,
        query: &AuditQuery,
    ) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            crate::audit_columns!(),
            " FROM audit_events WHERE app_id = $1 \
              AND ($2 IS NULL OR user_id = $2) \
              AND ($3 IS NULL OR kind = $3) \
              AND ($4 IS NULL OR occurred_at >= $4) \
              AND ($5 IS NULL OR occurred_at < $5) \
              AND seq > $6 \
              AND ($8 IS NULL OR source = $8) ORDER BY seq LIMIT $7"
        ))
        .bind(app.as_uuid())
        .bind(query.user_id.map(|u| u.as_uuid()))
        .bind(query.kind.as_deref())
        // Bounds at the stored precision, as PostgreSQL compares them (sqlx sends whole
        // microseconds there, truncated).
        .bind(query.since.map(to_stored_precision))
        .bind(query.until.map(to_stored_precision))
        .bind(query.after_seq.unwrap_or(0))
        .bind(page_limit(query.limit))
        .bind(query.source.map(EventSource::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_kinds_for_events(
        &self,
        app: AppId,
        events: &[EventId],
    ) -> StoreResult<Vec<(EventId, String)>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = events.iter().map(|e| e.as_uuid()).collect();
        let rows: Vec<(Uuid, String)> = sqlx::query_as(concat!(
            "SELECT cause, kind FROM ( \
                 SELECT seq, event_id AS cause, kind FROM audit_events \
                 WHERE app_id = $1 AND event_id IN (",
            uuid_blobs!("$2"),
            ") \
                 UNION ALL \
                 SELECT seq, unhex(replace(detail ->> '$.kind.grant_revoked.caused_by', '-', '')) AS cause, kind \
                 FROM audit_events WHERE app_id = $1 AND kind = 'grant_revoked' \
                 AND unhex(replace(detail ->> '$.kind.grant_revoked.caused_by', '-', '')) IN (",
            uuid_blobs!("$2"),
            ") \
             ) ORDER BY seq"
        ))
        .bind(app.as_uuid())
        .bind(json_list(&ids)?)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(cause, kind)| (EventId::from_uuid(cause), kind))
            .collect())
    }

    async fn verify_audit_chain(&self, app: AppId) -> StoreResult<ChainVerification> {
        // One statement, so one snapshot of the trail (WAL), streamed row by row. This store
        // never wrote a version-1 row (the schema allows only 2): a row that says it is one
        // was changed, and no hash matches it.
        let mut rows = sqlx::query(CHAIN).bind(app.as_uuid()).fetch(&self.pool);
        let mut verifier = ChainVerifier::new();
        while let Some(row) = rows.try_next().await? {
            let event = audit_from_row(&row)?;
            if let Some(broken) = verifier.check(&event, Some(&[])) {
                return Ok(broken);
            }
        }
        Ok(verifier.intact())
    }
}
