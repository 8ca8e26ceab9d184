//! Directory-sync runs over PostgreSQL. A partial unique index allows one active run
//! (pending, running, awaiting approval) per IDP, so two triggers or two replicas never sync
//! the same IDP at once; workers claim pending runs with `FOR UPDATE SKIP LOCKED`.

use alter_core::{AppId, ExternalGroupId, IdpId, RunId};
use async_trait::async_trait;
use chrono::Duration;

use super::outbox::write_messages;
use super::{PgStore, is_foreign_key_violation, is_unique_violation, page_limit};
use crate::directory_runs::{
    DirectoryRun, DirectoryRunStore, Removal, RunCounts, RunOutcome, RunState, RunTrigger,
    SyncCandidate, abandoned_error, bind_counts, candidate_from_row, removal_from_row,
    run_from_row, run_not_in,
};
use crate::error::{StoreError, StoreResult};
use crate::outbox::OutboxMessage;
use crate::secrets::SecretPurpose;

impl PgStore {
    async fn active_run(&self, app: AppId, idp: IdpId) -> StoreResult<Option<DirectoryRun>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            crate::directory_run_columns!(),
            " FROM directory_runs WHERE app_id = $1 AND idp_id = $2 \
             AND state IN ('pending', 'running', 'awaiting_approval')"
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }
}

#[async_trait]
impl DirectoryRunStore for PgStore {
    async fn request_run(
        &self,
        app: AppId,
        idp: IdpId,
        trigger: RunTrigger,
        dry_run: bool,
    ) -> StoreResult<(DirectoryRun, bool)> {
        // Twice: an active run that ends between the insert's conflict and the read.
        for _ in 0..2 {
            let inserted = sqlx::query(concat!(
                "INSERT INTO directory_runs (id, app_id, idp_id, state, trigger, dry_run) \
                 VALUES ($1, $2, $3, 'pending', $4, $5) RETURNING ",
                crate::directory_run_columns!()
            ))
            .bind(RunId::new().as_uuid())
            .bind(app.as_uuid())
            .bind(idp.as_uuid())
            .bind(trigger.as_str())
            .bind(dry_run)
            .fetch_one(&self.pool)
            .await;
            match inserted {
                Ok(row) => return Ok((run_from_row(&row)?, true)),
                Err(e) if is_unique_violation(&e) => {
                    if let Some(active) = self.active_run(app, idp).await? {
                        return Ok((active, false));
                    }
                }
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::not_found(format!("identity provider {idp}")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::conflict(format!(
            "the directory runs of identity provider {idp} changed twice while a run was requested; request it again"
        )))
    }

    async fn claim_run(&self, stale_after: Duration) -> StoreResult<Option<DirectoryRun>> {
        let stale_seconds = stale_after.num_milliseconds() as f64 / 1000.0;
        sqlx::query(
            "UPDATE directory_runs SET state = 'failed', finished_at = now(), last_error = $1 \
             WHERE state = 'running' AND heartbeat_at < now() - make_interval(secs => $2)",
        )
        .bind(abandoned_error(stale_after))
        .bind(stale_seconds)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(concat!(
            "UPDATE directory_runs SET state = 'running', started_at = now(), heartbeat_at = now() \
             WHERE id = (SELECT id FROM directory_runs WHERE state = 'pending' \
                 ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ",
            crate::directory_run_columns!()
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn heartbeat_run(&self, app: AppId, run: RunId, counts: &RunCounts) -> StoreResult<()> {
        let query = sqlx::query(concat!(
            "UPDATE directory_runs SET ",
            crate::directory_run_set_counts!(),
            ", heartbeat_at = now() WHERE app_id = $1 AND id = $2 AND state = 'running'"
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid());
        let done = bind_counts(query, counts).execute(&self.pool).await?;
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
        let mut tx = self.pool.begin().await?;
        let query = sqlx::query(concat!(
            "UPDATE directory_runs SET ",
            crate::directory_run_set_counts!(),
            ", state = $11, finished_at = CASE WHEN $11 = 'awaiting_approval' THEN NULL ELSE now() END, \
             last_error = $12, held_reason = $13, heartbeat_at = now() \
             WHERE app_id = $1 AND id = $2 AND state = 'running' RETURNING ",
            crate::directory_run_columns!()
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid());
        let row = bind_counts(query, counts)
            .bind(state.as_str())
            .bind(error)
            .bind(held)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(run_not_in(self, app, run, "running").await);
        };
        let finished = run_from_row(&row)?;
        if matches!(outcome, RunOutcome::Held { .. }) && !removals.is_empty() {
            let seqs: Vec<i32> = (0..removals.len())
                .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
                .collect();
            let users: Vec<&str> = removals.iter().map(|r| r.user.as_str()).collect();
            let groups: Vec<Option<&str>> = removals
                .iter()
                .map(|r| r.group.as_ref().map(ExternalGroupId::as_str))
                .collect();
            sqlx::query(
                "INSERT INTO directory_run_removals (run_id, seq, external_user_id, external_group_id) \
                 SELECT $1, * FROM UNNEST($2::int4[], $3::text[], $4::text[])",
            )
            .bind(run.as_uuid())
            .bind(seqs)
            .bind(users)
            .bind(groups)
            .execute(&mut *tx)
            .await?;
        }
        if matches!(outcome, RunOutcome::Succeeded) {
            write_messages(&mut tx, effects).await?;
        }
        tx.commit().await?;
        if matches!(outcome, RunOutcome::Succeeded) && !effects.is_empty() {
            self.signal.committed();
        }
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
             WHERE r.run_id = $2 ORDER BY r.seq OFFSET $3 LIMIT $4",
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
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE directory_runs SET state = $3, finished_at = now(), decided_by = $4 \
             WHERE app_id = $1 AND id = $2 AND state = 'awaiting_approval' RETURNING ",
            crate::directory_run_columns!()
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid())
        .bind(state.as_str())
        .bind(decided_by)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            drop(tx);
            return Err(run_not_in(self, app, run, "awaiting approval").await);
        };
        let decided = run_from_row(&row)?;
        if approve {
            write_messages(&mut tx, effects).await?;
        }
        tx.commit().await?;
        if approve && !effects.is_empty() {
            self.signal.committed();
        }
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
