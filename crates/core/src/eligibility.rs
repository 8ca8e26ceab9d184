//! Which identity providers may back group-bound grants (R-CFG-09, R-JWT-07). A group
//! grant is safe only when the provider tells us, in real time and by a stable ID, when a
//! member leaves or the group is deleted; otherwise access could outlive membership.

use crate::error::FieldError;
use crate::model::IdpKind;

/// The request field a group-grant rejection names.
const FIELD: &str = "principal";

/// R-CFG-09: whether a grant may be bound to a group of an IDP of this kind, and if not,
/// why and what to do instead.
///
/// | Kind | Group grants | Why |
/// |---|---|---|
/// | Auth0 | never | no group lifecycle webhooks, so a departure is never seen |
/// | Custom OIDC | never | OIDC defines no group lifecycle events or directory |
/// | Okta | only with stable IDs | webhooks carry group IDs (`00g…`); name-keyed groups never match them |
/// | Clerk | yes | the group claim carries organization IDs (`org_…`), as the webhooks do |
pub fn group_grant_eligibility(
    kind: IdpKind,
    group_claim_stable_ids: bool,
) -> Result<(), FieldError> {
    let reason = match kind {
        IdpKind::Clerk => return Ok(()),
        IdpKind::Okta if group_claim_stable_ids => return Ok(()),
        IdpKind::Auth0 => {
            "cannot be a group on an Auth0 identity provider: Auth0 sends no group lifecycle webhooks, so a group grant could not be revoked when someone leaves the group; bind the grant to users or to the app (system) instead"
        }
        IdpKind::CustomOidc => {
            "cannot be a group on a custom OIDC identity provider: OIDC defines no group lifecycle events or directory, so a group grant could not be revoked when someone leaves the group; bind the grant to users or to the app (system) instead"
        }
        IdpKind::Okta => {
            "cannot be a group on this Okta identity provider: its group claim carries group names, but Okta's webhooks name groups by ID (00g…), so removals would never match; group grants need a claim emitting group IDs with \"group claim carries stable IDs\" set when the provider is added"
        }
    };
    Err(FieldError::new(FIELD, reason))
}

/// R-JWT-07: whether the memberships recorded from the group claim may back grants, or
/// are for visibility only.
pub fn groups_back_grants(kind: IdpKind, group_claim_stable_ids: bool) -> bool {
    group_grant_eligibility(kind, group_claim_stable_ids).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_cfg_09_group_grant_eligibility_table() {
        // (kind, stable IDs flag, eligible, words the reason must contain)
        let rows = [
            (IdpKind::Auth0, false, false, "no group lifecycle webhooks"),
            (IdpKind::Auth0, true, false, "no group lifecycle webhooks"),
            (
                IdpKind::CustomOidc,
                false,
                false,
                "OIDC defines no group lifecycle",
            ),
            (
                IdpKind::CustomOidc,
                true,
                false,
                "OIDC defines no group lifecycle",
            ),
            (
                IdpKind::Okta,
                false,
                false,
                "group claim carries stable IDs",
            ),
            (IdpKind::Okta, true, true, ""),
            (IdpKind::Clerk, false, true, ""),
            (IdpKind::Clerk, true, true, ""),
        ];
        for (kind, stable, eligible, reason) in rows {
            let result = group_grant_eligibility(kind, stable);
            assert_eq!(result.is_ok(), eligible, "{kind} stable={stable}");
            assert_eq!(
                groups_back_grants(kind, stable),
                eligible,
                "{kind} stable={stable}"
            );
            if let Err(err) = result {
                assert_eq!(err.field, "principal");
                assert!(err.message.contains(reason), "{err}");
            }
        }
    }

    #[test]
    fn r_jwt_07_auth0_and_name_keyed_okta_groups_are_visibility_only() {
        assert!(!groups_back_grants(IdpKind::Auth0, true));
        assert!(!groups_back_grants(IdpKind::Okta, false));
        assert!(groups_back_grants(IdpKind::Okta, true));
    }
}
