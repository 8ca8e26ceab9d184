//! The user state machine every writer of user status goes through (webhooks, directory
//! sync, admin), and the ordering rule that keeps an older event from overriding a newer one.
//!
//! | from \ effect | Deprovision | Suspend | Reactivate | other |
//! |---|---|---|---|---|
//! | Active | Deprovisioned, revoke | Suspended, hide | Active (no change) | no change |
//! | Suspended | Deprovisioned, revoke | Suspended (no change) | Active, restore | no change |
//! | Deprovisioned | Deprovisioned, revoke (no change) | Deprovisioned | Deprovisioned | no change |
//!
//! Deprovisioned is terminal: R-HOOK-04 restores only "a previously-suspended user", and
//! deprovisioning has already revoked the user's grants (R-REV-02), which reactivation could
//! not bring back. A returning person needs an admin, not an event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::UserStatus;
use crate::provider_events::EventEffect;

/// What happens to the user's grants with a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantAction {
    /// Nothing to do.
    Keep,
    /// Revoke every grant bound to the user (R-REV-02). Idempotent: asked for on every
    /// deprovision, even a repeated one, so no grant of a deprovisioned user survives.
    Revoke,
    /// Hide the user's grants without revoking them (R-REV-03): verify refuses the user
    /// (R-JWT-08), so the caches must be invalidated.
    Hide,
    /// Show the hidden grants again (R-REV-03 "reactivation restores access").
    Restore,
}

/// The outcome of applying an effect to a user's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transition {
    pub from: UserStatus,
    pub to: UserStatus,
    /// Whether the status changed (and so must be stored, audited and invalidated).
    pub changed: bool,
    pub grants: GrantAction,
}

/// Applies an event's effect to the user's current status. Effects that are not about the
/// user's status (profile, membership, group, ignore) leave it unchanged.
pub fn apply(current: UserStatus, effect: EventEffect) -> Transition {
    use UserStatus::{Active, Deprovisioned, Suspended};
    let (to, grants) = match (current, effect) {
        (_, EventEffect::Deprovision) => (Deprovisioned, GrantAction::Revoke),
        (Active, EventEffect::Suspend) => (Suspended, GrantAction::Hide),
        (Suspended, EventEffect::Reactivate) => (Active, GrantAction::Restore),
        (status, _) => (status, GrantAction::Keep),
    };
    Transition {
        from: current,
        to,
        changed: current != to,
        grants,
    }
}

/// When the state a change describes held at the provider (Okta `published`, Clerk envelope
/// `timestamp`, Auth0 `data.date`, a directory run's start). Stored beside the user's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StateVersion(DateTime<Utc>);

impl StateVersion {
    pub const fn at(time: DateTime<Utc>) -> Self {
        Self(time)
    }

    pub const fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }
}

/// An older event never overrides a newer one: apply the event only when nothing is stored
/// yet or it is not older than what is stored. Equal versions apply, so events published in
/// the same instant take effect in delivery order (Okta batches them in order), and a
/// redelivery of the stored event is a no-op because every effect is idempotent.
pub fn should_apply(stored: Option<StateVersion>, event: StateVersion) -> bool {
    stored.is_none_or(|stored| event >= stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventEffect::*;
    use GrantAction::*;
    use UserStatus::*;
    use chrono::TimeZone;

    fn t(from: UserStatus, to: UserStatus, changed: bool, grants: GrantAction) -> Transition {
        Transition {
            from,
            to,
            changed,
            grants,
        }
    }

    #[test]
    fn user_state_machine_table() {
        let rows = [
            (Active, Deprovision, t(Active, Deprovisioned, true, Revoke)),
            (Active, Suspend, t(Active, Suspended, true, Hide)),
            (Active, Reactivate, t(Active, Active, false, Keep)),
            (
                Suspended,
                Deprovision,
                t(Suspended, Deprovisioned, true, Revoke),
            ),
            (Suspended, Suspend, t(Suspended, Suspended, false, Keep)),
            (Suspended, Reactivate, t(Suspended, Active, true, Restore)),
            (
                Deprovisioned,
                Deprovision,
                t(Deprovisioned, Deprovisioned, false, Revoke),
            ),
            (
                Deprovisioned,
                Suspend,
                t(Deprovisioned, Deprovisioned, false, Keep),
            ),
            (
                Deprovisioned,
                Reactivate,
                t(Deprovisioned, Deprovisioned, false, Keep),
            ),
        ];
        for (from, effect, expected) in rows {
            assert_eq!(apply(from, effect), expected, "{from} + {effect:?}");
        }
        for from in [Active, Suspended, Deprovisioned] {
            for effect in [UpdateProfile, RemoveMembership, DeleteGroup, Ignore] {
                assert_eq!(
                    apply(from, effect),
                    t(from, from, false, Keep),
                    "{from} + {effect:?}"
                );
            }
        }
    }

    #[test]
    fn r_rev_02_deprovision_revokes_the_users_grants() {
        for from in [Active, Suspended] {
            let tr = apply(from, Deprovision);
            assert_eq!(
                (tr.to, tr.changed, tr.grants),
                (Deprovisioned, true, Revoke)
            );
        }
        // A repeat still asks for revocation (idempotent) but reports no status change.
        assert_eq!(apply(Deprovisioned, Deprovision).grants, Revoke);
    }

    #[test]
    fn r_rev_02_deprovisioned_is_terminal() {
        for effect in [Suspend, Reactivate, UpdateProfile, Ignore] {
            assert_eq!(apply(Deprovisioned, effect).to, Deprovisioned, "{effect:?}");
        }
    }

    #[test]
    fn r_rev_03_suspension_hides_without_revoking() {
        let tr = apply(Active, Suspend);
        assert_eq!((tr.to, tr.changed, tr.grants), (Suspended, true, Hide));
        assert_ne!(tr.grants, Revoke);
    }

    #[test]
    fn r_rev_03_reactivation_restores_access() {
        let tr = apply(Suspended, Reactivate);
        assert_eq!((tr.to, tr.changed, tr.grants), (Active, true, Restore));
    }

    #[test]
    fn r_hook_04_restore_events_only_restore_a_suspended_user() {
        use crate::provider_events::okta_event_effect;
        for event in [
            "user.lifecycle.unsuspend",
            "user.lifecycle.reactivate",
            "user.lifecycle.activate",
        ] {
            let effect = okta_event_effect(event);
            assert_eq!(apply(Suspended, effect).to, Active, "{event}");
            assert_eq!(apply(Deprovisioned, effect).to, Deprovisioned, "{event}");
        }
        assert_eq!(
            apply(Active, okta_event_effect("user.lifecycle.suspend")).to,
            Suspended
        );
        assert_eq!(
            apply(Suspended, okta_event_effect("user.lifecycle.deactivate")).to,
            Deprovisioned
        );
    }

    #[test]
    fn r_hook_02_ublkdu_restores_a_suspended_user_only() {
        use crate::provider_events::auth0_log_effect;
        assert_eq!(
            apply(Suspended, auth0_log_effect("ublkdu")),
            t(Suspended, Active, true, Restore)
        );
        assert_eq!(
            apply(Deprovisioned, auth0_log_effect("ublkdu")).to,
            Deprovisioned
        );
        assert_eq!(apply(Active, auth0_log_effect("sdu")).to, Deprovisioned);
        assert_eq!(
            apply(Active, auth0_log_effect("sul")),
            t(Active, Active, false, Keep)
        );
    }

    fn v(secs: i64) -> StateVersion {
        StateVersion::at(Utc.timestamp_opt(1_760_000_000 + secs, 0).single().unwrap())
    }

    #[test]
    fn older_event_never_overrides_a_newer_one() {
        let rows = [
            (None, v(0), true),
            (Some(v(10)), v(11), true),
            (Some(v(10)), v(10), true),
            (Some(v(10)), v(9), false),
            (Some(v(10)), v(-1000), false),
        ];
        for (stored, event, expected) in rows {
            assert_eq!(
                should_apply(stored, event),
                expected,
                "{stored:?} vs {event:?}"
            );
        }
    }

    #[test]
    fn out_of_order_suspend_after_unsuspend_is_dropped() {
        // Unsuspend (t=20) arrives first, then the older suspend (t=10) is redelivered late.
        let mut status = Suspended;
        let mut stored = Some(v(5));
        for (effect, at) in [(Reactivate, v(20)), (Suspend, v(10))] {
            if should_apply(stored, at) {
                status = apply(status, effect).to;
                stored = Some(at);
            }
        }
        assert_eq!(status, Active);
        assert_eq!(stored, Some(v(20)));
    }
}
