//! The Verify answer as it is cached: the wire message plus each grant's expiry, so a grant
//! that expires while cached is filtered out at answer time (R-JWT-09).

use alter_core::{Principal, UserStatus};
use alter_proto::identity::v1 as pb;
use chrono::{DateTime, SecondsFormat, Utc};

/// A user's grants with their expiries, in store order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Grants {
    pub(crate) grants: Vec<pb::Grant>,
    pub(crate) expiries: Vec<Option<DateTime<Utc>>>,
    /// The earliest expiry: before it, no filtering is needed.
    pub(crate) earliest: Option<DateTime<Utc>>,
}

impl Grants {
    pub(crate) fn from_store(grants: &[alter_store::Grant]) -> Self {
        let mut out = Grants::default();
        for grant in grants {
            let (principal_kind, principal_id) = match grant.principal {
                Principal::User(id) => (pb::PrincipalKind::User, id.to_string()),
                Principal::Group(id) => (pb::PrincipalKind::Group, id.to_string()),
                Principal::System => (pb::PrincipalKind::System, String::new()),
            };
            out.grants.push(pb::Grant {
                id: grant.id.to_string(),
                credential_ref: grant.credential_ref.clone(),
                principal_kind: principal_kind as i32,
                principal_id,
                expires_at: grant
                    .expires_at
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                    .unwrap_or_default(),
            });
            out.expiries.push(grant.expires_at);
            out.earliest = match (out.earliest, grant.expires_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }

    /// The grants still active at `now`.
    pub(crate) fn active_at(&self, now: DateTime<Utc>) -> Vec<pb::Grant> {
        if self.earliest.is_none_or(|t| t > now) {
            return self.grants.clone();
        }
        self.grants
            .iter()
            .zip(&self.expiries)
            .filter(|(_, expiry)| expiry.is_none_or(|t| t > now))
            .map(|(grant, _)| grant.clone())
            .collect()
    }
}

pub(crate) fn user_message(user: &alter_store::User) -> pb::User {
    pb::User {
        id: user.id.to_string(),
        external_id: user.external_id.to_string(),
        email: user.email.clone().unwrap_or_default(),
        display_name: user.display_name.clone().unwrap_or_default(),
        status: status_message(user.status) as i32,
    }
}

fn status_message(status: UserStatus) -> pb::UserStatus {
    match status {
        UserStatus::Active => pb::UserStatus::Active,
        UserStatus::Suspended => pb::UserStatus::Suspended,
        UserStatus::Deprovisioned => pb::UserStatus::Deprovisioned,
    }
}

pub(crate) fn group_message(group: &alter_store::Group) -> pb::Group {
    pb::Group {
        id: group.id.to_string(),
        external_id: group.external_id.to_string(),
        name: group.name.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alter_core::{AppId, GrantId};
    use chrono::Duration;

    fn grant(expires_at: Option<DateTime<Utc>>) -> alter_store::Grant {
        alter_store::Grant {
            id: GrantId::new(),
            app_id: AppId::new(),
            credential_ref: "cred".to_owned(),
            principal: Principal::System,
            expires_at,
            revoked_at: None,
            revoked_by: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn r_jwt_09_a_grant_that_expired_while_cached_is_filtered_at_answer_time() {
        let now = Utc::now();
        let grants = Grants::from_store(&[
            grant(None),
            grant(Some(now + Duration::seconds(10))),
            grant(Some(now + Duration::hours(1))),
        ]);
        assert_eq!(grants.active_at(now).len(), 3);
        let later = grants.active_at(now + Duration::seconds(11));
        assert_eq!(later.len(), 2);
        assert_eq!(later[0].expires_at, "");
        assert_eq!(grants.active_at(now + Duration::hours(2)).len(), 1);
    }
}
