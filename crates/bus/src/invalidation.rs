//! Cache invalidations: tell every jwt-verifier replica to drop cached state for an app
//! (R-JWT-10). Sent on core NATS, not stored: a replica that misses one (slow consumer,
//! reconnect) must resynchronise by clearing its cache.

use alter_core::{AppId, FieldError, UserId};
use serde::{Deserialize, Serialize};

/// What changed, so each replica drops no more than it must. JSON on the wire:
/// `{"scope":"user","user_id":"…"}`, `{"scope":"app_grants"}`, `{"scope":"idp_config"}`,
/// `{"scope":"webhooks"}` or `{"scope":"all"}`. A replica that cannot read a scope drops
/// everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Invalidation {
    /// One user changed (status, memberships, a grant bound to them): their resolved user and
    /// verified tokens.
    User { user_id: UserId },
    /// Grants that reach many users changed (a group or system grant created or revoked):
    /// every resolved user and verified token of the app — but not the IDP's keys.
    AppGrants,
    /// The IDP's configuration changed (created, claim mappings, sign-in settings, deleted):
    /// everything of the app, the IDP's cached keys included.
    IdpConfig,
    /// The IDP's webhook settings changed (enabled, rotated, disabled): webhook-ingest's
    /// endpoint cache of the app; nothing a verifier holds.
    Webhooks,
    /// Everything of the app, keys included.
    All,
}

impl Invalidation {
    /// Whether the IDP's cached signing keys must be forgotten too. Only a configuration
    /// change can change which keys are right; a grant change never does.
    pub const fn forgets_keys(self) -> bool {
        matches!(self, Invalidation::IdpConfig | Invalidation::All)
    }
}

/// An invalidation as received: the app comes from the subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidationNotice {
    pub app_id: AppId,
    pub invalidation: Invalidation,
}

pub(crate) fn decode_invalidation(payload: &[u8]) -> Result<Invalidation, FieldError> {
    serde_json::from_slice(payload).map_err(|e| {
        FieldError::new("payload", format!("is not an invalidation ({{\"scope\":\"user\",\"user_id\":…}}, or scope app_grants, idp_config, webhooks or all): {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configuration_changes_forget_keys() {
        assert!(
            !Invalidation::User {
                user_id: UserId::new()
            }
            .forgets_keys()
        );
        assert!(!Invalidation::AppGrants.forgets_keys());
        assert!(Invalidation::IdpConfig.forgets_keys());
        assert!(Invalidation::All.forgets_keys());
    }

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
        for (invalidation, wire) in [
            (Invalidation::AppGrants, "{\"scope\":\"app_grants\"}"),
            (Invalidation::IdpConfig, "{\"scope\":\"idp_config\"}"),
        ] {
            assert_eq!(serde_json::to_string(&invalidation).unwrap(), wire);
            assert_eq!(decode_invalidation(wire.as_bytes()).unwrap(), invalidation);
        }
        assert_eq!(
            decode_invalidation(b"{\"scope\":\"group\"}")
                .unwrap_err()
                .field,
            "payload"
        );
    }
}
