//! The audit trail over PostgreSQL. Appends run under a per-app advisory lock; the hash
//! chain is computed in SQL by `audit_payload` (see the migration) so the writer and the
//! verifier hash exactly the same bytes.

use std::collections::HashSet;

use alter_core::{AppId, EventId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, is_foreign_key_violation, page_limit, parse_source};
use crate::audit::{
    AppendOutcome, AuditEvent, AuditQuery, AuditStore, ChainVerification, GENESIS_HASH,
    NewAuditEvent,
};
use crate::error::{StoreError, StoreResult};

/// First key of the advisory lock that serialises appends per app ("AUDT").
const AUDIT_LOCK_CLASS: i32 = 0x4155_4454;

macro_rules! audit_columns {
    () => {
        "app_id, seq, event_id, kind, source, user_id, occurred_at, recorded_at, detail, prev_hash, hash"
    };
}

fn audit_from_row(row: &PgRow) -> StoreResult<AuditEvent> {
    let source: String = row.try_get("source")?;
    let user_id: Option<Uuid> = row.try_get("user_id")?;
    Ok(AuditEvent {
        app_id: AppId::from_uuid(row.try_get("app_id")?),
        seq: row.try_get("seq")?,
        event_id: EventId::from_uuid(row.try_get("event_id")?),
        kind: row.try_get("kind")?,
        source: parse_source("audit_events.source", &source)?,
        user_id: user_id.map(UserId::from_uuid),
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Inserts the events not yet recorded, numbering them after `$8` and chaining each row's
/// hash to the previous one, starting from `$9`.
const APPEND: &str = "
WITH RECURSIVE input AS (
    SELECT * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::timestamptz[], $7::text[])
        WITH ORDINALITY AS t(event_id, kind, source, user_id, occurred_at, detail, ord)
),
fresh AS (
    SELECT i.event_id, i.kind, i.source, i.user_id, i.occurred_at, i.detail::jsonb AS detail,
           row_number() OVER (ORDER BY i.ord) AS n
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.app_id = $1 AND a.event_id = i.event_id)
),
chain AS (
    SELECT f.n, $8::bigint + f.n AS seq, f.event_id, f.kind, f.source, f.user_id, f.occurred_at, f.detail,
           $9::bytea AS prev_hash,
           sha256($9::bytea || audit_payload($1, $8::bigint + f.n, f.event_id, f.kind, f.source, f.user_id,
                                             f.occurred_at, f.detail)) AS hash
    FROM fresh f WHERE f.n = 1
    UNION ALL
    SELECT f.n, c.seq + 1, f.event_id, f.kind, f.source, f.user_id, f.occurred_at, f.detail,
           c.hash,
           sha256(c.hash || audit_payload($1, c.seq + 1, f.event_id, f.kind, f.source, f.user_id,
                                          f.occurred_at, f.detail))
    FROM chain c JOIN fresh f ON f.n = c.n + 1
)
INSERT INTO audit_events (app_id, seq, event_id, kind, source, user_id, occurred_at, detail, prev_hash, hash)
SELECT $1, seq, event_id, kind, source, user_id, occurred_at, detail, prev_hash, hash FROM chain
RETURNING seq";

/// Finds the first row (by seq) whose number, back-link or own hash does not match.
const VERIFY: &str = "
WITH c AS (
    SELECT seq, prev_hash, hash,
           COALESCE(lag(seq) OVER w, 0) AS seq_before,
           COALESCE(lag(hash) OVER w, $2::bytea) AS hash_before,
           sha256(prev_hash || audit_payload(app_id, seq, event_id, kind, source, user_id, occurred_at, detail))
               AS recomputed
    FROM audit_events WHERE app_id = $1
    WINDOW w AS (ORDER BY seq)
)
SELECT (SELECT count(*) FROM c) AS rows, b.seq, b.reason
FROM (SELECT 1) AS one LEFT JOIN LATERAL (
    SELECT seq, seq_before,
           CASE WHEN seq <> seq_before + 1 THEN 'gap'
                WHEN prev_hash <> hash_before THEN 'link'
                ELSE 'content' END AS reason
    FROM c
    WHERE seq <> seq_before + 1 OR prev_hash <> hash_before OR hash <> recomputed
    ORDER BY seq LIMIT 1
) AS b ON true";

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit_events(
        &self,
        app: AppId,
        events: &[NewAuditEvent],
    ) -> StoreResult<AppendOutcome> {
        // Within a batch the first occurrence of an event ID is the one recorded.
        let mut seen = HashSet::with_capacity(events.len());
        let distinct: Vec<&NewAuditEvent> =
            events.iter().filter(|e| seen.insert(e.event_id)).collect();

        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
            .bind(AUDIT_LOCK_CLASS)
            .bind(app.to_string())
            .execute(&mut *tx)
            .await?;
        let head = sqlx::query(
            "SELECT seq, hash FROM audit_events WHERE app_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(app.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let (last_seq, last_hash): (i64, Vec<u8>) = match head {
            Some(row) => (row.try_get("seq")?, row.try_get("hash")?),
            None => (0, GENESIS_HASH.to_vec()),
        };
        if distinct.is_empty() {
            tx.commit().await?;
            return Ok(AppendOutcome {
                appended: 0,
                duplicates: events.len() as u64,
                last_seq,
            });
        }
        let event_ids: Vec<Uuid> = distinct.iter().map(|e| e.event_id.as_uuid()).collect();
        let kinds: Vec<&str> = distinct.iter().map(|e| e.kind.as_str()).collect();
        let sources: Vec<&str> = distinct.iter().map(|e| e.source.as_str()).collect();
        let users: Vec<Option<Uuid>> = distinct
            .iter()
            .map(|e| e.user_id.map(|u| u.as_uuid()))
            .collect();
        let times: Vec<DateTime<Utc>> = distinct.iter().map(|e| e.occurred_at).collect();
        let details: Vec<String> = distinct.iter().map(|e| e.detail.to_string()).collect();
        let inserted: Vec<i64> = sqlx::query_scalar(APPEND)
            .bind(app.as_uuid())
            .bind(&event_ids)
            .bind(&kinds)
            .bind(&sources)
            .bind(&users)
            .bind(&times)
            .bind(&details)
            .bind(last_seq)
            .bind(&last_hash)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| {
                if is_foreign_key_violation(&e) {
                    StoreError::not_found(format!("app {app}"))
                } else {
                    e.into()
                }
            })?;
        tx.commit().await?;
        let appended = inserted.len() as u64;
        Ok(AppendOutcome {
            appended,
            duplicates: events.len() as u64 - appended,
            last_seq: inserted.iter().copied().max().unwrap_or(last_seq),
        })
    }

    async fn list_audit_events(
        &self,
        app: AppId,
        query: &AuditQuery,
    ) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE app_id = $1 \
              AND ($2::uuid IS NULL OR user_id = $2) \
              AND ($3::text IS NULL OR kind = $3) \
              AND ($4::timestamptz IS NULL OR occurred_at >= $4) \
              AND ($5::timestamptz IS NULL OR occurred_at < $5) \
              AND seq > $6 ORDER BY seq LIMIT $7"
        ))
        .bind(app.as_uuid())
        .bind(query.user_id.map(|u| u.as_uuid()))
        .bind(query.kind.as_deref())
        .bind(query.since)
        .bind(query.until)
        .bind(query.after_seq.unwrap_or(0))
        .bind(page_limit(query.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn verify_audit_chain(&self, app: AppId) -> StoreResult<ChainVerification> {
        let row = sqlx::query(VERIFY)
            .bind(app.as_uuid())
            .bind(GENESIS_HASH.as_slice())
            .fetch_one(&self.pool)
            .await?;
        let rows: i64 = row.try_get("rows")?;
        let seq: Option<i64> = row.try_get("seq")?;
        let reason: Option<String> = row.try_get("reason")?;
        Ok(match (seq, reason.as_deref()) {
            (None, _) => ChainVerification::Intact {
                rows: rows.max(0) as u64,
            },
            (Some(seq), Some("gap")) => ChainVerification::Broken {
                seq,
                reason: format!(
                    "row {seq} does not follow its predecessor: rows before it were removed"
                ),
            },
            (Some(seq), Some("link")) => ChainVerification::Broken {
                seq,
                reason: format!("row {seq}'s prev_hash is not the hash of the row before it"),
            },
            (Some(seq), _) => ChainVerification::Broken {
                seq,
                reason: format!("row {seq}'s hash does not match its content: the row was changed"),
            },
        })
    }
}
