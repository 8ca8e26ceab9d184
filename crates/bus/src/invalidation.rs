//! Cache invalidations: tell every jwt-verifier replica to drop cached state for an app
//! (R-JWT-10). Sent on core NATS, not stored: a replica that misses one (slow consumer,
//! reconnect) must resynchronise by clearing its cache.

use alter_core::{AppId, FieldError, UserId};
use serde::{Deserialize, Serialize};

/// What to drop. JSON on the wire: `{"scope":"user","user_id":"…"}` or `{"scope":"all"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Invalidation {
    /// Everything cached for one user (status, memberships, grants, verified tokens).
    User { user_id: UserId },
    /// Everything cached for the app (e.g. a group's grants were revoked).
    All,
}

/// An invalidation as received: the app comes from the subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidationNotice {
    pub app_id: AppId,
    pub invalidation: Invalidation,
}

pub(crate) fn decode_invalidation(payload: &[u8]) -> Result<Invalidation, FieldError> {
    serde_json::from_slice(payload).map_err(|e| {
        FieldError::new("payload", format!("is not an invalidation ({{\"scope\":\"user\",\"user_id\":…}} or {{\"scope\":\"all\"}}): {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_small_json() {
        let user_id = UserId::new();
        let json = serde_json::to_string(&Invalidation::User { user_id }).unwrap();
        assert_eq!(
            json,
            format!("{{\"scope\":\"user\",\"user_id\":\"{user_id}\"}}")
        );
        assert_eq!(
            serde_json::to_string(&Invalidation::All).unwrap(),
            "{\"scope\":\"all\"}"
        );
        assert_eq!(
            decode_invalidation(json.as_bytes()).unwrap(),
            Invalidation::User { user_id }
        );
        assert_eq!(
            decode_invalidation(b"{\"scope\":\"group\"}")
                .unwrap_err()
                .field,
            "payload"
        );
    }
}
