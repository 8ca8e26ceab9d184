//! Directory-sync runs over SQLite. The same partial unique index as on PostgreSQL allows
//! one active run (pending, running, awaiting approval) per IDP; writers are serialised
//! (`BEGIN IMMEDIATE`), so a request reads the active run and inserts a new one in one
//! transaction, and a claim takes the oldest pending run without `SKIP LOCKED`: no other
//! worker can claim between its read and its write.

use alter_core::{AppId, ExternalGroupId, IdpId, RunId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::SqliteConnection;

use super::{SqliteStore, now};
use crate::common::{missing_on_foreign_key, page_limit};
use crate::directory_runs::{
    DirectoryRun, DirectoryRunStore, Removal, RunCounts, RunOutcome, RunState, RunTrigger,
    SyncCandidate, abandoned_error, bind_counts, candidate_from_row, removal_from_row,
    run_from_row, run_not_in,
};
use crate::error::StoreResult;
use crate::outbox::OutboxMessage;
use crate::secrets::SecretPurpose;

/// The IDP's active run, read on the caller's transaction.
async fn active_run_on(
    conn: &mut SqliteConnection,
    app: AppId,
    idp: IdpId,
) -> StoreResult<Option<DirectoryRun>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        crate::directory_run_columns!(),
        " FROM directory_runs WHERE app_id = $1 AND idp_id = $2 \
         AND state IN ('pending', 'running', 'awaiting_approval')"
    ))
    .bind(app.as_uuid())
    .bind(idp.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(run_from_row).transpose()
}

/// `now - stale_after`: heartbeats older than this are abandoned.
fn stale_before(now: DateTime<Utc>, stale_after: Duration) -> DateTime<Utc> {
    now.checked_sub_signed(stale_after)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[async_trait]
impl DirectoryRunStore for SqliteStore {
    async fn request_run(
        &self,
        app: AppId,
        idp: IdpId,
        trigger: RunTrigger,
        dry_run: bool,
    ) -> StoreResult<(DirectoryRun, bool)> {
        let mut tx = self.write_tx().await?;
        if let Some(active) = active_run_on(&mut tx, app, idp).await? {
            tx.commit().await?;
            return Ok((active, false));
        }
        let inserted = sqlx::query(concat!(
            "INSERT INTO directory_runs (id, app_id, idp_id, state, trigger, dry_run, requested_at) \
             VALUES ($1, $2, $3, 'pending', $4, $5, $6) RETURNING ",
            crate::directory_run_columns!()
        ))
        .bind(RunId::new().as_uuid())
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(trigger.as_str())
        .bind(dry_run)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(missing_on_foreign_key(|| format!("identity provider {idp}")))?;
        let run = run_from_row(&inserted)?;
        tx.commit().await?;
        Ok((run, true))
    }

    async fn claim_run(&self, stale_after: Duration) -> StoreResult<Option<DirectoryRun>> {
        let now = now();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE directory_runs SET state = 'failed', finished_at = $2, last_error = $1 \
             WHERE state = 'running' AND heartbeat_at < $3",
        )
        .bind(abandoned_error(stale_after))
        .bind(now)
        .bind(stale_before(now, stale_after))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(concat!(
            "UPDATE directory_runs SET state = 'running', started_at = $1, heartbeat_at = $1 \
             WHERE id = (SELECT id FROM directory_runs WHERE state = 'pending' \
                 ORDER BY requested_at LIMIT 1) RETURNING ",
            crate::directory_run_columns!()
        ))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let claimed = row.as_ref().map(run_from_row).transpose()?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn heartbeat_run(&self, app: AppId, run: RunId, counts: &RunCounts) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        let query = sqlx::query(concat!(
            "UPDATE directory_runs SET ",
            crate::directory_run_set_counts!(),
            ", heartbeat_at = $11 WHERE app_id = $1 AND id = $2 AND state = 'running'"
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid());
        let done = bind_counts(query, counts)
            .bind(now())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(run_not_in(self, app, run, "running").await);
        }
        Ok(())
    }

    async fn finish_run(
        &self,
        app: AppId,
        run: RunId,
        outcome: &RunOutcome,
        counts: &RunCounts,
        removals: &[Removal],
        effects: &[OutboxMessage],
    ) -> StoreResult<DirectoryRun> {
        let (state, error, held) = outcome.columns();
        let mut tx = self.write_tx().await?;
        let query = sqlx::query(concat!(
            "UPDATE directory_runs SET ",
            crate::directory_run_set_counts!(),
            ", state = $11, finished_at = CASE WHEN $11 = 'awaiting_approval' THEN NULL ELSE $14 END, \
             last_error = $12, held_reason = $13, heartbeat_at = $14 \
             WHERE app_id = $1 AND id = $2 AND state = 'running' RETURNING ",
            crate::directory_run_columns!()
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid());
        let row = bind_counts(query, counts)
            .bind(state.as_str())
            .bind(error)
            .bind(held)
            .bind(now())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(run_not_in(self, app, run, "running").await);
        };
        let finished = run_from_row(&row)?;
        if matches!(outcome, RunOutcome::Held { .. }) {
            for (seq, removal) in (0_i64..).zip(removals) {
                sqlx::query(
                    "INSERT INTO directory_run_removals (run_id, seq, external_user_id, external_group_id) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(run.as_uuid())
                .bind(seq)
                .bind(removal.user.as_str())
                .bind(removal.group.as_ref().map(ExternalGroupId::as_str))
                .execute(&mut *tx)
                .await?;
            }
        }
        let messages = if matches!(outcome, RunOutcome::Succeeded) {
            effects.to_vec()
        } else {
            Vec::new()
        };
        self.commit_with(tx, messages).await?;
        Ok(finished)
    }

    async fn run_removals(
        &self,
        app: AppId,
        run: RunId,
        offset: i64,
        limit: u32,
    ) -> StoreResult<Vec<Removal>> {
        let rows = sqlx::query(
            "SELECT r.external_user_id, r.external_group_id FROM directory_run_removals r \
             JOIN directory_runs d ON d.id = r.run_id AND d.app_id = $1 \
             WHERE r.run_id = $2 ORDER BY r.seq LIMIT $4 OFFSET $3",
        )
        .bind(app.as_uuid())
        .bind(run.as_uuid())
        .bind(offset)
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(removal_from_row).collect()
    }

    async fn decide_run(
        &self,
        app: AppId,
        run: RunId,
        approve: bool,
        decided_by: &str,
        effects: &[OutboxMessage],
    ) -> StoreResult<DirectoryRun> {
        let state = if approve {
            RunState::Succeeded
        } else {
            RunState::Rejected
        };
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(concat!(
            "UPDATE directory_runs SET state = $3, finished_at = $5, decided_by = $4 \
             WHERE app_id = $1 AND id = $2 AND state = 'awaiting_approval' RETURNING ",
            crate::directory_run_columns!()
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid())
        .bind(state.as_str())
        .bind(decided_by)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(run_not_in(self, app, run, "awaiting approval").await);
        };
        let decided = run_from_row(&row)?;
        let messages = if approve {
            effects.to_vec()
        } else {
            Vec::new()
        };
        self.commit_with(tx, messages).await?;
        Ok(decided)
    }

    async fn get_run(&self, app: AppId, run: RunId) -> StoreResult<Option<DirectoryRun>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            crate::directory_run_columns!(),
            " FROM directory_runs WHERE app_id = $1 AND id = $2"
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn list_runs(&self, app: AppId, limit: u32) -> StoreResult<Vec<DirectoryRun>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            crate::directory_run_columns!(),
            " FROM directory_runs WHERE app_id = $1 ORDER BY requested_at DESC, id DESC LIMIT $2"
        ))
        .bind(app.as_uuid())
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }

    async fn sync_candidates(&self, limit: u32) -> StoreResult<Vec<SyncCandidate>> {
        let rows = sqlx::query(
            "SELECT s.app_id, s.idp_id, \
                 (SELECT max(requested_at) FROM directory_runs d WHERE d.app_id = s.app_id AND d.idp_id = s.idp_id) \
                 AS last_requested_at \
             FROM sealed_secrets s WHERE s.purpose = $1 \
             AND NOT EXISTS (SELECT 1 FROM directory_runs d WHERE d.app_id = s.app_id AND d.idp_id = s.idp_id \
                 AND d.state IN ('pending', 'running', 'awaiting_approval')) \
             ORDER BY 3 NULLS FIRST LIMIT $2",
        )
        .bind(SecretPurpose::DirectoryCredential.as_str())
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(candidate_from_row).collect()
    }
}
