//! Just-in-time provisioning, its audit trail, the claim-mapping lock and memberships from
//! the group claim (R-JWT-06, R-JWT-07, R-CFG-08, R-CFG-09).

use std::time::Duration;

use alter_bus::{AuditKind, Invalidation};
use alter_core::{ClaimMappings, ExternalUserId, LifecycleKind, Principal};
use alter_idp_sim::TenantKind;
use alter_proto::identity::v1::PrincipalKind;
use alter_store::{GrantStore, GroupStore, GroupUpsert, IdpStore, NewGrant, StoreError, UserStore};
use futures::StreamExt;
use serde_json::json;

use crate::support::{Harness, mappings};

#[tokio::test]
async fn r_jwt_06_first_verify_provisions_the_user_once_and_audits_it() {
    let h = Harness::start().await;
    let with_email = ClaimMappings {
        email_claim: Some("email".to_owned()),
        ..mappings()
    };
    let app = h.app("jit", TenantKind::Auth0, with_email).await;
    let mut audit = h
        .env
        .bus
        .audit_consumer("jwt-verifier-test")
        .await
        .expect("audit consumer");
    let claims = [("email", json!("ada@example.com"))];

    let first = h
        .verify(app.id, &h.mint(&app, "auth0|ada", &claims))
        .await
        .expect("first");
    let store = h.store();
    let external = ExternalUserId::parse("sub", "auth0|ada").unwrap();
    let stored = store
        .get_user_by_external_id(app.id, &external)
        .await
        .unwrap()
        .expect("user created");
    assert_eq!(first.user.as_ref().unwrap().id, stored.id.to_string());
    assert_eq!(stored.email.as_deref(), Some("ada@example.com"));

    let delivery = tokio::time::timeout(Duration::from_secs(5), audit.next())
        .await
        .expect("an audit record within 5 s")
        .expect("stream open")
        .expect("record decodes");
    match &delivery.event.kind {
        AuditKind::Lifecycle(LifecycleKind::UserProvisioned { user, email, .. }) => {
            assert_eq!(user.external_id, external);
            assert_eq!(user.user_id, Some(stored.id));
            assert_eq!(email.as_deref(), Some("ada@example.com"));
        }
        other => panic!("expected user_provisioned, got {other:?}"),
    }
    assert_eq!(delivery.event.app_id, app.id);
    delivery.ack().await.unwrap();

    // Drop every cache so the second sign-in goes to the database: it must write nothing.
    h.invalidate(app.id, Invalidation::All).await;
    let second = h
        .verify(app.id, &h.mint(&app, "auth0|ada", &claims))
        .await
        .expect("second");
    assert_eq!(second.user, first.user);
    let after = store.get_user(app.id, stored.id).await.unwrap().unwrap();
    assert_eq!(
        after.updated_at, stored.updated_at,
        "an unchanged user is not rewritten"
    );
    assert_eq!(store.list_users(app.id, None, 10).await.unwrap().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn r_cfg_08_first_successful_sign_in_locks_the_claim_mappings() {
    let h = Harness::start().await;
    let app = h.app("lock", TenantKind::Clerk, mappings()).await;
    let store = h.store();
    assert!(app.idp.claim_mappings_locked_at.is_none());
    // A refused token is not a successful authentication: still unlocked.
    let wrong = h.mint(&app, "user_1", &[("aud", json!("https://elsewhere"))]);
    assert!(h.verify(app.id, &wrong).await.is_err());
    let idp = store.get_idp(app.id, app.idp.id).await.unwrap().unwrap();
    assert!(idp.claim_mappings_locked_at.is_none());
    let email = ClaimMappings {
        email_claim: Some("email".to_owned()),
        ..mappings()
    };
    store
        .update_claim_mappings(app.id, app.idp.id, &email)
        .await
        .expect("editable before first sign-in");

    h.invalidate(app.id, Invalidation::All).await;
    h.verify(app.id, &h.mint(&app, "user_1", &[]))
        .await
        .expect("sign-in");
    let idp = store.get_idp(app.id, app.idp.id).await.unwrap().unwrap();
    assert!(
        idp.claim_mappings_locked_at.is_some(),
        "locked by the first sign-in"
    );
    let err = store
        .update_claim_mappings(app.id, app.idp.id, &mappings())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_07_r_cfg_09_group_grants_resolve_for_clerk_and_stable_id_okta_only() {
    let h = Harness::start().await;
    let store = h.store();
    // (tenant, kind, group claim, stable IDs, group value, group grants expected)
    let cases = [
        (
            "clerkg",
            TenantKind::Clerk,
            "org_id",
            false,
            "org_2xyz",
            true,
        ),
        ("oktaid", TenantKind::Okta, "groups", true, "00g1abc", true),
        (
            "oktaname",
            TenantKind::Okta,
            "groups",
            false,
            "Engineering",
            false,
        ),
        (
            "auth0g",
            TenantKind::Auth0,
            "https://alter.dev/groups",
            false,
            "admins",
            false,
        ),
    ];
    for (tenant, kind, claim, stable, group, eligible) in cases {
        let m = ClaimMappings {
            group_claim: Some(claim.to_owned()),
            group_claim_stable_ids: stable,
            ..mappings()
        };
        let app = h.app(tenant, kind, m).await;
        let groups = store
            .upsert_groups(
                app.id,
                &[GroupUpsert {
                    external_id: alter_core::ExternalGroupId::parse("g", group).unwrap(),
                    name: None,
                }],
            )
            .await
            .unwrap();
        let new_grant = |credential: &str, principal| NewGrant {
            credential_ref: credential.to_owned(),
            principal,
            expires_at: None,
        };
        let group_grant = store
            .create_grant(
                app.id,
                &new_grant("group-cred", Principal::Group(groups[0].id)),
            )
            .await
            .unwrap();
        let system_grant = store
            .create_grant(app.id, &new_grant("system-cred", Principal::System))
            .await
            .unwrap();

        let claim_value = if kind == TenantKind::Clerk {
            json!(group)
        } else {
            json!([group])
        };
        let answer = h
            .verify(app.id, &h.mint(&app, "sub-1", &[(claim, claim_value)]))
            .await
            .unwrap_or_else(|s| panic!("{tenant}: {s:?}"));
        // Memberships are recorded for every kind (visibility).
        assert_eq!(answer.groups.len(), 1, "{tenant}");
        assert_eq!(answer.groups[0].external_id, group, "{tenant}");
        let user_id = alter_core::UserId::parse("id", &answer.user.as_ref().unwrap().id).unwrap();
        assert_eq!(
            store.list_user_groups(app.id, user_id).await.unwrap().len(),
            1,
            "{tenant}"
        );
        let ids: Vec<&str> = answer.grants.iter().map(|g| g.id.as_str()).collect();
        assert!(
            ids.contains(&system_grant.id.to_string().as_str()),
            "{tenant}: system grant always"
        );
        assert_eq!(
            ids.contains(&group_grant.id.to_string().as_str()),
            eligible,
            "{tenant}: group grant eligibility"
        );
        if eligible {
            let g = answer
                .grants
                .iter()
                .find(|g| g.id == group_grant.id.to_string())
                .unwrap();
            assert_eq!(g.principal_kind(), PrincipalKind::Group);
            assert_eq!(g.principal_id, groups[0].id.to_string());
        }
    }
    h.stop().await;
}
