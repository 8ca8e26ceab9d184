//! The audit trail over PostgreSQL. Appends run under a per-app advisory lock and insert
//! rows numbered, linked and hashed in Rust by [`audit_chain`](crate::audit_chain), so every
//! adapter writes the same hashes; the verifier streams the trail through the same code.
//! Rows of hash version 1 (written before the chain moved into Rust) are recomputed with
//! their SQL formula `audit_payload` (see the initial migration) as the trail is read.

use std::collections::HashSet;

use alter_core::{AppId, EventId, EventSource};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::Row;
use uuid::Uuid;

use super::{PgStore, page_limit};
use crate::audit::{
    AppendOutcome, AuditEvent, AuditQuery, AuditStore, ChainVerification, NewAuditEvent,
    audit_from_row, events_to_append,
};
use crate::audit_chain::{ChainHead, ChainVerifier, HashVersion, chain_rows};
use crate::common::missing_on_foreign_key;
use crate::error::StoreResult;

/// First key of the advisory lock that serialises appends per app ("AUDT").
const AUDIT_LOCK_CLASS: i32 = 0x4155_4454;

/// Under the chain lock: the app's last row, the transaction's time (the rows'
/// `recorded_at`), and which of the batch's event IDs are already recorded.
const HEAD: &str = "
SELECT now() AS recorded_at, h.seq, h.hash,
       ARRAY(SELECT a.event_id FROM audit_events a
             WHERE a.app_id = $1 AND a.event_id = ANY($2::uuid[])) AS recorded
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_events WHERE app_id = $1 ORDER BY seq DESC LIMIT 1
) AS h ON true";

/// Inserts the chained rows in one statement.
const APPEND: &str = "
INSERT INTO audit_events
    (app_id, seq, event_id, kind, source, user_id, occurred_at, recorded_at, detail, prev_hash, hash, hash_version)
SELECT $1, t.seq, t.event_id, t.kind, t.source, t.user_id, t.occurred_at, $2, t.detail::jsonb,
       t.prev_hash, t.hash, $3
FROM UNNEST($4::bigint[], $5::uuid[], $6::text[], $7::text[], $8::uuid[], $9::timestamptz[],
            $10::text[], $11::bytea[], $12::bytea[])
    AS t(seq, event_id, kind, source, user_id, occurred_at, detail, prev_hash, hash)";

/// The whole trail in chain order, with each version-1 row's hash recomputed by its formula.
const CHAIN: &str = concat!(
    "SELECT ",
    crate::audit_columns!(),
    ", CASE WHEN hash_version = 1 THEN sha256(prev_hash || audit_payload(app_id, seq, event_id, \
       kind, source, user_id, occurred_at, detail)) END AS v1_hash \
     FROM audit_events WHERE app_id = $1 ORDER BY seq"
);

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit_events(
        &self,
        app: AppId,
        events: &[NewAuditEvent],
    ) -> StoreResult<AppendOutcome> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id.as_uuid()).collect();

        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
            .bind(AUDIT_LOCK_CLASS)
            .bind(app.to_string())
            .execute(&mut *tx)
            .await?;
        let head = sqlx::query(HEAD)
            .bind(app.as_uuid())
            .bind(&ids)
            .fetch_one(&mut *tx)
            .await?;
        let recorded_at: DateTime<Utc> = head.try_get("recorded_at")?;
        let last_seq: Option<i64> = head.try_get("seq")?;
        let last_hash: Option<Vec<u8>> = head.try_get("hash")?;
        let chain_head = match (last_seq, last_hash) {
            (Some(seq), Some(hash)) => ChainHead { seq, hash },
            _ => ChainHead::genesis(),
        };
        let recorded: HashSet<EventId> = head
            .try_get::<Vec<Uuid>, _>("recorded")?
            .into_iter()
            .map(EventId::from_uuid)
            .collect();
        let fresh = events_to_append(events, &recorded);
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(AppendOutcome {
                appended: 0,
                duplicates: events.len() as u64,
                last_seq: chain_head.seq,
            });
        }

        let rows = chain_rows(app, &chain_head, recorded_at, &fresh);
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let event_ids: Vec<Uuid> = rows.iter().map(|r| r.event_id.as_uuid()).collect();
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        let sources: Vec<&str> = rows.iter().map(|r| r.source.as_str()).collect();
        let users: Vec<Option<Uuid>> = rows
            .iter()
            .map(|r| r.user_id.map(|u| u.as_uuid()))
            .collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.occurred_at).collect();
        let details: Vec<String> = rows.iter().map(|r| r.detail.to_string()).collect();
        let prev_hashes: Vec<&[u8]> = rows.iter().map(|r| r.prev_hash.as_slice()).collect();
        let hashes: Vec<&[u8]> = rows.iter().map(|r| r.hash.as_slice()).collect();
        let inserted = sqlx::query(APPEND)
            .bind(app.as_uuid())
            .bind(recorded_at)
            .bind(HashVersion::CURRENT.number())
            .bind(&seqs)
            .bind(&event_ids)
            .bind(&kinds)
            .bind(&sources)
            .bind(&users)
            .bind(&times)
            .bind(&details)
            .bind(&prev_hashes)
            .bind(&hashes)
            .execute(&mut *tx)
            .await
            .map_err(missing_on_foreign_key(|| format!("app {app}")))?;
        tx.commit().await?;
        let appended = inserted.rows_affected();
        Ok(AppendOutcome {
            appended,
            duplicates: events.len() as u64 - appended,
            last_seq: rows.last().map_or(chain_head.seq, |r| r.seq),
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
              AND ($2::uuid IS NULL OR user_id = $2) \
              AND ($3::text IS NULL OR kind = $3) \
              AND ($4::timestamptz IS NULL OR occurred_at >= $4) \
              AND ($5::timestamptz IS NULL OR occurred_at < $5) \
              AND seq > $6 \
              AND ($8::text IS NULL OR source = $8) ORDER BY seq LIMIT $7"
        ))
        .bind(app.as_uuid())
        .bind(query.user_id.map(|u| u.as_uuid()))
        .bind(query.kind.as_deref())
        .bind(query.since)
        .bind(query.until)
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
        let rows = sqlx::query(
            "SELECT cause, kind FROM ( \
                 SELECT seq, event_id AS cause, kind FROM audit_events \
                 WHERE app_id = $1 AND event_id = ANY($2) \
                 UNION ALL \
                 SELECT seq, (detail->'kind'->'grant_revoked'->>'caused_by')::uuid AS cause, kind \
                 FROM audit_events WHERE app_id = $1 AND kind = 'grant_revoked' \
                 AND (detail->'kind'->'grant_revoked'->>'caused_by')::uuid = ANY($2) \
             ) found ORDER BY seq",
        )
        .bind(app.as_uuid())
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    EventId::from_uuid(row.try_get("cause")?),
                    row.try_get("kind")?,
                ))
            })
            .collect()
    }

    async fn verify_audit_chain(&self, app: AppId) -> StoreResult<ChainVerification> {
        // One statement, so one snapshot of the trail, streamed row by row.
        let mut rows = sqlx::query(CHAIN).bind(app.as_uuid()).fetch(&self.pool);
        let mut verifier = ChainVerifier::new();
        while let Some(row) = rows.try_next().await? {
            let event = audit_from_row(&row)?;
            let v1_hash: Option<Vec<u8>> = row.try_get("v1_hash")?;
            if let Some(broken) = verifier.check(&event, v1_hash.as_deref()) {
                return Ok(broken);
            }
        }
        Ok(verifier.intact())
    }
}
