//! Sign-in flows and sessions over SQLite: each taken once by a `DELETE … RETURNING`.

use alter_core::AppId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SqliteStore, now};
use crate::error::StoreResult;
use crate::signin::{
    SessionKind, SignInFlow, SignInSession, SignInStore, flow_columns, flow_from_row, insert_error,
    session_columns, session_from_row,
};

#[async_trait]
impl SignInStore for SqliteStore {
    async fn create_sign_in_flow(&self, flow: &SignInFlow) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO sign_in_flows (state_digest, browser_digest, app_id, idp_id, purpose, \
             return_url, app_state, sealed_ciphertext, sealed_nonce, sealed_key_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&flow.state_digest)
        .bind(&flow.browser_digest)
        .bind(flow.app_id.as_uuid())
        .bind(flow.idp_id.as_uuid())
        .bind(flow.purpose.as_str())
        .bind(&flow.return_url)
        .bind(&flow.app_state)
        .bind(&flow.sealed.ciphertext)
        .bind(&flow.sealed.nonce)
        .bind(&flow.sealed.key_id)
        .bind(flow.expires_at)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| insert_error("a sign-in flow", e))?;
        Ok(())
    }

    async fn take_sign_in_flow(
        &self,
        app: AppId,
        state_digest: &[u8],
    ) -> StoreResult<Option<SignInFlow>> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(concat!(
            "DELETE FROM sign_in_flows WHERE app_id = $1 AND state_digest = $2 RETURNING ",
            flow_columns!()
        ))
        .bind(app.as_uuid())
        .bind(state_digest)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(flow_from_row).transpose()
    }

    async fn create_sign_in_session(&self, session: &SignInSession) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO sign_in_sessions (digest, kind, app_id, idp_id, user_id, return_url, \
             sealed_ciphertext, sealed_nonce, sealed_key_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&session.digest)
        .bind(session.kind.as_str())
        .bind(session.app_id.as_uuid())
        .bind(session.idp_id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(&session.return_url)
        .bind(&session.sealed.ciphertext)
        .bind(&session.sealed.nonce)
        .bind(&session.sealed.key_id)
        .bind(session.expires_at)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(|e| insert_error("a sign-in session", e))?;
        Ok(())
    }

    async fn take_sign_in_session(
        &self,
        app: AppId,
        kind: SessionKind,
        digest: &[u8],
    ) -> StoreResult<Option<SignInSession>> {
        let _turn = self.write_turn().await;
        let row = sqlx::query(concat!(
            "DELETE FROM sign_in_sessions WHERE app_id = $1 AND kind = $2 AND digest = $3 RETURNING ",
            session_columns!()
        ))
        .bind(app.as_uuid())
        .bind(kind.as_str())
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn get_sign_in_session(
        &self,
        app: AppId,
        kind: SessionKind,
        digest: &[u8],
    ) -> StoreResult<Option<SignInSession>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sign_in_sessions WHERE app_id = $1 AND kind = $2 AND digest = $3"
        ))
        .bind(app.as_uuid())
        .bind(kind.as_str())
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn purge_expired_sign_ins(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let flows = sqlx::query("DELETE FROM sign_in_flows WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let sessions = sqlx::query("DELETE FROM sign_in_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(flows.rows_affected() + sessions.rows_affected())
    }
}
