//! Users and groups as admins see them: a user with their groups and active grants.

use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;
use alter_proto::identity::v1::{PrincipalKind, UserStatus};

use crate::support::Harness;

#[tokio::test]
async fn get_user_shows_groups_and_active_grants_including_group_grants_on_clerk() {
    let mut h = Harness::start().await;
    let (app, idp) = h.app_with_idp("acme", TenantKind::Clerk, None).await;
    let user = h.user(app, idp, "user_1").await;
    let group = h.group(app, "org_1", &[user]).await;
    let mut ids = vec![];
    for (kind, principal) in [
        (PrincipalKind::User, user.to_string()),
        (PrincipalKind::Group, group.to_string()),
        (PrincipalKind::System, String::new()),
    ] {
        let created = h
            .client
            .create_grant(pb::CreateGrantRequest {
                app_id: app.to_string(),
                credential_ref: format!("cred-{kind:?}"),
                principal_kind: kind.into(),
                principal_id: principal,
                expires_at: String::new(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        ids.push(created.id);
    }
    h.client
        .revoke_grant(pb::RevokeGrantRequest {
            app_id: app.to_string(),
            grant_id: ids[2].clone(),
        })
        .await
        .unwrap();

    let detail = h
        .client
        .get_user(pb::GetUserRequest {
            app_id: app.to_string(),
            user_id: user.to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    let shown = detail.user.unwrap();
    assert_eq!(
        (shown.external_id.as_str(), shown.status()),
        ("user_1", UserStatus::Active)
    );
    assert_eq!(
        detail
            .groups
            .iter()
            .map(|g| g.external_id.as_str())
            .collect::<Vec<_>>(),
        vec!["org_1"]
    );
    let mut grants: Vec<_> = detail.grants.iter().map(|g| g.id.clone()).collect();
    grants.sort();
    let mut expected = ids[..2].to_vec();
    expected.sort();
    assert_eq!(
        grants, expected,
        "user and group grants; the revoked system grant is gone"
    );

    let groups = h
        .client
        .list_groups(pb::ListGroupsRequest {
            app_id: app.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(groups.groups.len(), 1);
    let users = h
        .client
        .list_users(pb::ListUsersRequest {
            app_id: app.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users.users[0].email, "user_1@example.test");
    h.finish().await;
}
