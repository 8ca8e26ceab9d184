//! Suspension, deprovisioning and revocation reach the very next verify through
//! invalidation messages, even when the answer was cached (R-JWT-08, R-JWT-09, R-JWT-10).

use alter_bus::Invalidation;
use alter_core::{EventSource, Principal, UserId, UserStatus};
use alter_idp_sim::TenantKind;
use alter_proto::identity::v1::RefusalReason;
use alter_store::{GrantStore, NewGrant, RevokedBy, UserStore};
use chrono::{Duration, Utc};
use tonic::Code;

use crate::support::{Harness, assert_refused, mappings};

#[tokio::test]
async fn r_jwt_08_r_jwt_10_suspended_and_deprovisioned_users_are_refused_on_the_next_call() {
    let h = Harness::start().await;
    let app = h.app("susp", TenantKind::Okta, mappings()).await;
    let store = h.store();
    let token = h.mint(&app, "00u9", &[]);
    let answer = h.verify(app.id, &token).await.expect("active");
    let user = UserId::parse("id", &answer.user.unwrap().id).unwrap();
    h.verify(app.id, &token)
        .await
        .expect("served from the token cache");

    store
        .set_user_status(app.id, user, UserStatus::Suspended, 1)
        .await
        .unwrap();
    h.invalidate(app.id, Invalidation::User { user_id: user })
        .await;
    let status = assert_refused(
        h.verify(app.id, &token).await,
        Code::PermissionDenied,
        RefusalReason::UserSuspended,
    );
    assert!(
        status.message().contains("suspended"),
        "{}",
        status.message()
    );
    // A fresh token for the suspended user is refused too (JIT never reactivates).
    assert_refused(
        h.verify(app.id, &h.mint(&app, "00u9", &[])).await,
        Code::PermissionDenied,
        RefusalReason::UserSuspended,
    );

    // R-REV-03: reactivation restores access.
    store
        .set_user_status(app.id, user, UserStatus::Active, 2)
        .await
        .unwrap();
    h.invalidate(app.id, Invalidation::User { user_id: user })
        .await;
    h.verify(app.id, &token).await.expect("reactivated");

    store
        .set_user_status(app.id, user, UserStatus::Deprovisioned, 3)
        .await
        .unwrap();
    h.invalidate(app.id, Invalidation::User { user_id: user })
        .await;
    assert_refused(
        h.verify(app.id, &token).await,
        Code::PermissionDenied,
        RefusalReason::UserDeprovisioned,
    );
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_09_revoked_or_expired_grants_are_never_returned() {
    let h = Harness::start().await;
    let app = h.app("grants", TenantKind::Clerk, mappings()).await;
    let store = h.store();
    let token = h.mint(&app, "user_g", &[]);
    let answer = h.verify(app.id, &token).await.expect("first");
    assert!(answer.grants.is_empty());
    let user = UserId::parse("id", &answer.user.unwrap().id).unwrap();

    let grant = |credential: &str, expires_at| NewGrant {
        credential_ref: credential.to_owned(),
        principal: Principal::User(user),
        expires_at,
    };
    let keep = store
        .create_grant(
            app.id,
            &grant("keep", Some(Utc::now() + Duration::hours(1))),
        )
        .await
        .unwrap();
    let revoke = store
        .create_grant(app.id, &grant("revoke", None))
        .await
        .unwrap();
    store
        .create_grant(
            app.id,
            &grant("expired", Some(Utc::now() - Duration::seconds(1))),
        )
        .await
        .unwrap();
    h.invalidate(app.id, Invalidation::User { user_id: user })
        .await;
    let answer = h.verify(app.id, &token).await.expect("with grants");
    let mut refs: Vec<_> = answer
        .grants
        .iter()
        .map(|g| g.credential_ref.as_str())
        .collect();
    refs.sort_unstable();
    assert_eq!(
        refs,
        ["keep", "revoke"],
        "the expired grant is never returned"
    );
    let kept = answer
        .grants
        .iter()
        .find(|g| g.credential_ref == "keep")
        .unwrap();
    assert_eq!(kept.id, keep.id.to_string());
    assert!(!kept.expires_at.is_empty());

    store
        .revoke_grant(
            app.id,
            revoke.id,
            &RevokedBy::new(EventSource::Admin, "test"),
        )
        .await
        .unwrap();
    h.invalidate(app.id, Invalidation::User { user_id: user })
        .await;
    let answer = h.verify(app.id, &token).await.expect("after revocation");
    let refs: Vec<_> = answer
        .grants
        .iter()
        .map(|g| g.credential_ref.as_str())
        .collect();
    assert_eq!(
        refs,
        ["keep"],
        "the revoked grant is gone on the very next call"
    );
    h.stop().await;
}
