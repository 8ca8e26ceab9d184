//! Directory-sync runs over PostgreSQL. A partial unique index allows one `running` run per
//! IDP, so two replicas cannot sync the same IDP at once.

use alter_core::{AppId, IdpId, RunId};
use async_trait::async_trait;
use chrono::Duration;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, is_foreign_key_violation, is_unique_violation, page_limit};
use crate::directory_runs::{DirectoryRun, DirectoryRunStore, RunCounts, RunOutcome, RunState};
use crate::error::{StoreError, StoreResult};

macro_rules! run_columns {
    () => {
        "id, app_id, idp_id, state, started_at, finished_at, users_imported, users_updated, \
         users_suspended, users_deprovisioned, groups_imported, memberships_imported, last_error"
    };
}

fn run_from_row(row: &PgRow) -> StoreResult<DirectoryRun> {
    let state: String = row.try_get("state")?;
    let state = match state.as_str() {
        "running" => RunState::Running,
        "succeeded" => RunState::Succeeded,
        "failed" => RunState::Failed,
        other => {
            return Err(StoreError::corrupt(
                "directory run state",
                format!("unknown state {other:?}"),
            ));
        }
    };
    Ok(DirectoryRun {
        id: RunId::from_uuid(row.try_get("id")?),
        app_id: AppId::from_uuid(row.try_get("app_id")?),
        idp_id: IdpId::from_uuid(row.try_get("idp_id")?),
        state,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        counts: RunCounts {
            users_imported: row.try_get("users_imported")?,
            users_updated: row.try_get("users_updated")?,
            users_suspended: row.try_get("users_suspended")?,
            users_deprovisioned: row.try_get("users_deprovisioned")?,
            groups: row.try_get("groups_imported")?,
            memberships: row.try_get("memberships_imported")?,
        },
        last_error: row.try_get("last_error")?,
    })
}

impl PgStore {
    /// `NotFound` when the run is not in the app, else `Conflict` (it is no longer running).
    async fn run_not_running(&self, app: AppId, run: RunId) -> StoreError {
        match self.get_run(app, run).await {
            Ok(Some(found)) => StoreError::conflict(format!(
                "directory run {run} already ended ({}); start a new run instead",
                found.state.as_str()
            )),
            Ok(None) => StoreError::not_found(format!("directory run {run}")),
            Err(e) => e,
        }
    }
}

#[async_trait]
impl DirectoryRunStore for PgStore {
    async fn start_run(
        &self,
        app: AppId,
        idp: IdpId,
        stale_after: Duration,
    ) -> StoreResult<DirectoryRun> {
        let stale_seconds = stale_after.num_milliseconds() as f64 / 1000.0;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE directory_runs SET state = 'failed', finished_at = now(), \
             last_error = 'abandoned: still running ' || $3::text || ' seconds after it started (its worker stopped)' \
             WHERE app_id = $1 AND idp_id = $2 AND state = 'running' \
             AND started_at < now() - make_interval(secs => $4)",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(stale_after.num_seconds().to_string())
        .bind(stale_seconds)
        .execute(&mut *tx)
        .await?;
        let result = sqlx::query(concat!(
            "INSERT INTO directory_runs (id, app_id, idp_id, state) VALUES ($1, $2, $3, 'running') RETURNING ",
            run_columns!()
        ))
        .bind(RunId::new().as_uuid())
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .fetch_one(&mut *tx)
        .await;
        let row = match result {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::conflict(format!(
                    "a directory run for identity provider {idp} is already running; wait for it to finish"
                )));
            }
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(StoreError::not_found(format!("identity provider {idp}")));
            }
            Err(e) => return Err(e.into()),
        };
        let run = run_from_row(&row)?;
        tx.commit().await?;
        Ok(run)
    }

    async fn update_run_counts(
        &self,
        app: AppId,
        run: RunId,
        counts: &RunCounts,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE directory_runs SET users_imported = $3, users_updated = $4, users_suspended = $5, \
             users_deprovisioned = $6, groups_imported = $7, memberships_imported = $8 \
             WHERE app_id = $1 AND id = $2 AND state = 'running'",
        )
        .bind(app.as_uuid())
        .bind(run.as_uuid())
        .bind(counts.users_imported)
        .bind(counts.users_updated)
        .bind(counts.users_suspended)
        .bind(counts.users_deprovisioned)
        .bind(counts.groups)
        .bind(counts.memberships)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(self.run_not_running(app, run).await);
        }
        Ok(())
    }

    async fn finish_run(
        &self,
        app: AppId,
        run: RunId,
        outcome: &RunOutcome,
        counts: &RunCounts,
    ) -> StoreResult<DirectoryRun> {
        let (state, error) = match outcome {
            RunOutcome::Succeeded => (RunState::Succeeded, None),
            RunOutcome::Failed { error } => (RunState::Failed, Some(error.as_str())),
        };
        let row = sqlx::query(concat!(
            "UPDATE directory_runs SET state = $3, finished_at = now(), last_error = $4, \
             users_imported = $5, users_updated = $6, users_suspended = $7, users_deprovisioned = $8, \
             groups_imported = $9, memberships_imported = $10 \
             WHERE app_id = $1 AND id = $2 AND state = 'running' RETURNING ",
            run_columns!()
        ))
        .bind(app.as_uuid())
        .bind(run.as_uuid())
        .bind(state.as_str())
        .bind(error)
        .bind(counts.users_imported)
        .bind(counts.users_updated)
        .bind(counts.users_suspended)
        .bind(counts.users_deprovisioned)
        .bind(counts.groups)
        .bind(counts.memberships)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => run_from_row(&row),
            None => Err(self.run_not_running(app, run).await),
        }
    }

    async fn get_run(&self, app: AppId, run: RunId) -> StoreResult<Option<DirectoryRun>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
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
            run_columns!(),
            " FROM directory_runs WHERE app_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
        ))
        .bind(app.as_uuid())
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_from_row).collect()
    }
}
