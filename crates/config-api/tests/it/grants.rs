//! Grants: bound to a user, a group or the app with optional expiry; R-CFG-09 eligibility;
//! revocation records its cause and tells every verifier replica (R-JWT-10); app isolation.

use std::time::Duration;

use alter_bus::Invalidation;
use alter_core::{EventSource, GrantId, UserId};
use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;
use alter_proto::identity::v1::PrincipalKind;
use alter_store::GrantStore;
use futures::StreamExt;
use tonic::Code;

use crate::support::{Harness, assert_status};

fn grant(
    app: impl ToString,
    kind: PrincipalKind,
    principal: impl ToString,
) -> pb::CreateGrantRequest {
    pb::CreateGrantRequest {
        app_id: app.to_string(),
        credential_ref: "vault:secret/reports".into(),
        principal_kind: kind.into(),
        principal_id: principal.to_string(),
        expires_at: String::new(),
        ..Default::default()
    }
}

#[tokio::test]
async fn r_cfg_09_group_grants_are_refused_on_ineligible_providers_naming_the_reason() {
    let mut h = Harness::start().await;
    let stable = pb::ClaimMappings {
        user_id_claim: "uid".into(),
        group_claim: "groups".into(),
        group_claim_stable_ids: true,
        ..Default::default()
    };
    let cases = [
        (
            "auth0",
            TenantKind::Auth0,
            None,
            Some("no group lifecycle webhooks"),
        ),
        (
            "oidc",
            TenantKind::Oidc,
            None,
            Some("OIDC defines no group lifecycle"),
        ),
        (
            "okta-names",
            TenantKind::Okta,
            None,
            Some("group claim carries stable IDs"),
        ),
        ("clerk", TenantKind::Clerk, None, None),
        ("okta-ids", TenantKind::Okta, Some(stable), None),
    ];
    for (tenant, kind, mappings, refusal) in cases {
        let (app, _) = h.app_with_idp(tenant, kind, mappings).await;
        let group = h.group(app, "00g-or-org_1", &[]).await;
        let answer = h
            .client
            .create_grant(grant(app, PrincipalKind::Group, group))
            .await;
        match refusal {
            Some(reason) => {
                assert_status(
                    &answer.unwrap_err(),
                    Code::FailedPrecondition,
                    &["principal cannot be a group", reason],
                );
                assert!(
                    h.store.list_grants(app, None, 10).await.unwrap().is_empty(),
                    "{tenant}: nothing saved"
                );
            }
            None => {
                let created = answer.unwrap().into_inner();
                assert_eq!(
                    (created.principal_kind(), created.principal_id),
                    (PrincipalKind::Group, group.to_string()),
                    "{tenant}"
                );
            }
        }
    }
    h.finish().await;
}

#[tokio::test]
async fn grants_bind_users_or_the_app_with_optional_expiry_and_the_principal_must_exist() {
    let mut h = Harness::start().await;
    let (app, idp) = h.app_with_idp("acme", TenantKind::Auth0, None).await;
    let user = h.user(app, idp, "auth0|1").await;

    let mut for_user = grant(app, PrincipalKind::User, user);
    for_user.expires_at = "2999-01-01T00:00:00Z".into();
    let created = h.client.create_grant(for_user).await.unwrap().into_inner();
    assert_eq!(created.principal_id, user.to_string());
    assert!(
        created.expires_at.starts_with("2999-01-01T00:00:00"),
        "{}",
        created.expires_at
    );
    let system = h
        .client
        .create_grant(grant(app, PrincipalKind::System, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (system.principal_kind(), system.principal_id.as_str()),
        (PrincipalKind::System, "")
    );

    let err = h
        .client
        .create_grant(grant(app, PrincipalKind::User, UserId::new()))
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, &["user", "alter users list"]);
    let err = h
        .client
        .create_grant(grant(app, PrincipalKind::Unspecified, ""))
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, &["principal_kind is required"]);
    let mut past = grant(app, PrincipalKind::System, "");
    past.expires_at = "2000-01-01T00:00:00Z".into();
    assert_status(
        &h.client.create_grant(past).await.unwrap_err(),
        Code::InvalidArgument,
        &["expires_at is in the past"],
    );
    let mut empty = grant(app, PrincipalKind::System, "");
    empty.credential_ref = " ".into();
    assert_status(
        &h.client.create_grant(empty).await.unwrap_err(),
        Code::InvalidArgument,
        &["credential_ref"],
    );

    let listed = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: app.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed.grants.iter().map(|g| g.id.clone()).collect();
    assert_eq!(ids, vec![created.id.clone(), system.id.clone()]);
    // Paging: one at a time with the opaque token.
    let first = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: app.to_string(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.grants.len(), 1);
    let second = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: app.to_string(),
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.grants[0].id, system.id);
    assert!(second.next_page_token.is_empty());
    h.finish().await;
}

#[tokio::test]
async fn revoking_a_grant_records_the_admin_and_publishes_an_invalidation() {
    let mut h = Harness::start().await;
    let (app, idp) = h.app_with_idp("acme", TenantKind::Clerk, None).await;
    let user = h.user(app, idp, "user_1").await;
    let created = h
        .client
        .create_grant(grant(app, PrincipalKind::User, user))
        .await
        .unwrap()
        .into_inner();

    let mut invalidations = h.env.bus.subscribe_invalidations().await.unwrap();
    let revoked = h
        .client
        .revoke_grant(pb::RevokeGrantRequest {
            app_id: app.to_string(),
            grant_id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.id, created.id);
    let notice = tokio::time::timeout(Duration::from_secs(5), invalidations.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (notice.app_id, notice.invalidation),
        (app, Invalidation::User { user_id: user })
    );

    let stored = h
        .store
        .get_grant(app, GrantId::parse("id", &created.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_some());
    let by = stored.revoked_by.unwrap();
    assert_eq!(
        (by.source, by.cause.as_str()),
        (EventSource::Admin, "admin")
    );

    // Revoked grants are hidden unless asked for, and then show who revoked them.
    let active = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: app.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(active.grants.is_empty());
    let all = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: app.to_string(),
            include_inactive: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.grants.len(), 1);
    assert_eq!(all.statuses[0].revoked_by, "admin: admin");
    h.finish().await;
}

#[tokio::test]
async fn app_b_cannot_see_or_revoke_app_a_grants_or_users() {
    let mut h = Harness::start().await;
    let (a, idp_a) = h.app_with_idp("a", TenantKind::Clerk, None).await;
    let (b, _) = h.app_with_idp("b", TenantKind::Clerk, None).await;
    let user_a = h.user(a, idp_a, "user_a").await;
    let grant_a = h
        .client
        .create_grant(grant(a, PrincipalKind::User, user_a))
        .await
        .unwrap()
        .into_inner();

    let err = h
        .client
        .revoke_grant(pb::RevokeGrantRequest {
            app_id: b.to_string(),
            grant_id: grant_a.id.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, &[&grant_a.id]);
    let stored = h
        .store
        .get_grant(a, GrantId::parse("id", &grant_a.id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_none(), "still active in app A");

    let listed = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: b.to_string(),
            include_inactive: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.grants.is_empty());
    let users = h
        .client
        .list_users(pb::ListUsersRequest {
            app_id: b.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(users.users.is_empty());
    let err = h
        .client
        .get_user(pb::GetUserRequest {
            app_id: b.to_string(),
            user_id: user_a.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // App B cannot bind a grant to app A's user either.
    let err = h
        .client
        .create_grant(grant(b, PrincipalKind::User, user_a))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // And app A still sees its own.
    let own = h
        .client
        .list_users(pb::ListUsersRequest {
            app_id: a.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.users.len(), 1);
    h.finish().await;
}
