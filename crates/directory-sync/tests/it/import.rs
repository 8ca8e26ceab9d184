//! Directory imports end to end against idp-sim (R-DIR-01..09): full imports per provider,
//! unchanged re-runs that write nothing, upstream deletions and membership removals reaching
//! grants and the verifier, statuses mapped, a failing page that removes nobody, the safety
//! valve and its approval, one run for two triggers, dry runs, and the credential rules.

use std::time::Duration;

use alter_idp_sim::{Fault, TenantKind, UserStatus};
use alter_proto::admin::v1 as pb;
use alter_proto::identity::v1::{PrincipalKind, RefusalReason, UserStatus as Status};
use alter_testkit::eventually;

use crate::support::Kit;

const ACTIVE: i32 = Status::Active as i32;
const SUSPENDED: i32 = Status::Suspended as i32;
const DEPROVISIONED: i32 = Status::Deprovisioned as i32;

#[tokio::test]
async fn r_dir_02_r_dir_04_r_dir_06_okta_imports_everyone_and_upstream_removals_reach_grants_and_the_verifier()
 {
    let kit = Kit::start(TenantKind::Okta, true, |_| {}).await;
    kit.user("00u_ann", UserStatus::Active);
    kit.user("00u_bob", UserStatus::Active);
    kit.user("00u_cy", UserStatus::Suspended);
    kit.user("00u_dee", UserStatus::Deprovisioned);
    kit.group("00g_eng", &["00u_ann", "00u_bob"]);

    let first = kit.import(false).await;
    assert_eq!(first.state, "succeeded", "{first:?}");
    assert_eq!(
        (
            first.users_imported,
            first.users_suspended,
            first.users_deprovisioned,
            first.groups,
            first.memberships_added
        ),
        (4, 1, 1, 1, 2),
        "{first:?}"
    );
    let users = kit.users().await;
    assert_eq!(users["00u_ann"], ACTIVE);
    assert_eq!(users["00u_cy"], SUSPENDED);
    assert_eq!(
        users["00u_dee"], DEPROVISIONED,
        "DEPROVISIONED users arrive deprovisioned"
    );

    // Unchanged upstream: the re-run writes no row at all.
    let before = kit.row_versions().await;
    let again = kit.import(false).await;
    assert_eq!(again.state, "succeeded");
    assert_eq!(
        (
            again.users_imported,
            again.users_updated,
            again.users_suspended,
            again.users_deprovisioned,
            again.memberships_added,
            again.memberships_removed
        ),
        (0, 0, 0, 0, 0, 0),
        "{again:?}"
    );
    assert_eq!(
        kit.row_versions().await,
        before,
        "a re-run of an unchanged directory writes nothing"
    );

    // Grants: one through the group, one to bob.
    let ann = kit.token("00u_ann", &["00g_eng"]);
    let bob = kit.token("00u_bob", &["00g_eng"]);
    let answer = kit.verify(&bob).await.unwrap();
    let bob_id = answer.user.unwrap().id;
    let group_id = answer.groups[0].id.clone();
    kit.grant(PrincipalKind::Group, &group_id, "eng:deploy")
        .await;
    kit.grant(PrincipalKind::User, &bob_id, "db:bob").await;
    eventually("both grants", Duration::from_secs(10), || async {
        kit.verify(&bob).await.ok().filter(|a| a.grants.len() == 2)
    })
    .await;
    assert_eq!(kit.verify(&ann).await.unwrap().grants.len(), 1);

    // Upstream: bob is deleted, ann leaves the group.
    kit.sim
        .delete_user(crate::support::TENANT, "00u_bob")
        .unwrap();
    kit.sim
        .remove_membership(crate::support::TENANT, "00g_eng", "00u_ann")
        .unwrap();
    let third = kit.import(false).await;
    assert_eq!(third.state, "succeeded", "{third:?}");
    assert_eq!(
        (third.users_deprovisioned, third.memberships_removed),
        (1, 1),
        "{third:?}"
    );
    eventually("bob refused", Duration::from_secs(15), || async {
        match kit.verify(&bob).await {
            Err(status) => (alter_jwt_verifier::refusal_of(&status).map(|d| d.reason())
                == Some(RefusalReason::UserDeprovisioned))
            .then_some(()),
            Ok(_) => None,
        }
    })
    .await;
    // ann's token still lists the group, but it was issued before the removal.
    eventually(
        "ann without the group's grant",
        Duration::from_secs(15),
        || async { kit.verify(&ann).await.ok().filter(|a| a.grants.is_empty()) },
    )
    .await;
    let detail = kit
        .admin
        .clone()
        .get_user(pb::GetUserRequest {
            app_id: kit.app.clone(),
            user_id: bob_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        detail.grants.iter().all(|g| g.credential_ref != "db:bob"),
        "R-REV-02: the grant bound to bob is revoked: {:?}",
        detail.grants
    );

    // R-DIR-06: the run's changes are in the trail, naming the run.
    let provisioned = eventually(
        "the imports in the trail",
        Duration::from_secs(15),
        || async {
            let events = kit
                .admin
                .clone()
                .list_audit_events(pb::ListAuditEventsRequest {
                    app_id: kit.app.clone(),
                    kind: "user_provisioned".into(),
                    source: "directory_sync".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .events;
            (events.len() >= 4).then_some(events)
        },
    )
    .await;
    assert!(
        provisioned.iter().all(|e| e
            .detail_json
            .contains(&format!("directory run {}", first.id))),
        "{provisioned:?}"
    );
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_02_auth0_reads_a_tenant_of_5000_users_completely_with_blocked_users_suspended() {
    let kit = Kit::start(TenantKind::Auth0, true, |_| {}).await;
    kit.generate(5_000);
    let blocked = kit.sim.users(crate::support::TENANT).unwrap()[17]
        .id
        .clone();
    kit.sim
        .set_user_status(crate::support::TENANT, &blocked, UserStatus::Blocked)
        .unwrap();
    let run = kit.import(false).await;
    assert_eq!(run.state, "succeeded", "{run:?}");
    assert_eq!(
        (run.users_imported, run.users_suspended),
        (5_000, 1),
        "{run:?}"
    );
    let users = kit.users().await;
    assert_eq!(users.len(), 5_000);
    assert_eq!(users[&blocked], SUSPENDED);
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_02_clerk_imports_organizations_as_groups_and_banned_users_suspended() {
    let kit = Kit::start(TenantKind::Clerk, true, |_| {}).await;
    let ann = kit.user("user_ann", UserStatus::Active);
    let ben = kit.user("user_ben", UserStatus::Banned);
    let org = kit.group("org_one", &[&ann, &ben]);
    let run = kit.import(false).await;
    assert_eq!(run.state, "succeeded", "{run:?}");
    assert_eq!(
        (
            run.users_imported,
            run.users_suspended,
            run.groups,
            run.memberships_added
        ),
        (2, 1, 1, 2)
    );
    let users = kit.users().await;
    assert_eq!((users[&ann], users[&ben]), (ACTIVE, SUSPENDED));
    let groups = kit
        .admin
        .clone()
        .list_groups(pb::ListGroupsRequest {
            app_id: kit.app.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .groups;
    assert_eq!(
        groups
            .iter()
            .map(|g| g.external_id.clone())
            .collect::<Vec<_>>(),
        [org]
    );
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_04_a_run_that_fails_part_way_deprovisions_nobody_and_records_the_error() {
    let kit = Kit::start(TenantKind::Okta, true, |_| {}).await;
    kit.generate(450);
    assert_eq!(kit.import(false).await.state, "succeeded");
    let gone = kit.sim.users(crate::support::TENANT).unwrap()[3].id.clone();
    kit.sim.delete_user(crate::support::TENANT, &gone).unwrap();
    kit.sim
        .inject_fault(
            crate::support::TENANT,
            Fault::FailPage {
                page: 1,
                times: 100,
            },
        )
        .unwrap();
    let failed = kit.import(false).await;
    assert_eq!(failed.state, "failed", "{failed:?}");
    assert!(
        failed.last_error.contains("could not be read"),
        "{failed:?}"
    );
    assert_eq!(failed.users_deprovisioned, 0);
    assert_eq!(kit.users().await[&gone], ACTIVE, "nobody is deprovisioned");
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_08_a_run_that_would_remove_half_the_directory_is_held_and_approval_applies_it() {
    let kit = Kit::start(TenantKind::Okta, true, |s| s.deprovision_floor = 2).await;
    let ids: Vec<String> = (0..20)
        .map(|i| kit.user(&format!("00u_{i:02}"), UserStatus::Active))
        .collect();
    assert_eq!(kit.import(false).await.state, "succeeded");
    for id in &ids[..10] {
        kit.sim.delete_user(crate::support::TENANT, id).unwrap();
    }
    // A dry run says what would happen and changes nothing.
    let before = kit.row_versions().await;
    let dry = kit.import(true).await;
    assert_eq!(
        (dry.state.as_str(), dry.dry_run, dry.users_deprovisioned),
        ("succeeded", true, 10)
    );
    assert_eq!(kit.row_versions().await, before, "a dry run writes nothing");

    let held = kit.import(false).await;
    assert_eq!(held.state, "awaiting_approval", "{held:?}");
    assert!(
        held.held_reason.contains("10 of 20 users"),
        "{}",
        held.held_reason
    );
    // While held, a new trigger answers the held run.
    let again = kit
        .admin
        .clone()
        .run_directory_import(pb::RunDirectoryImportRequest {
            app_id: kit.app.clone(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.id.as_str(), again.created),
        (held.id.as_str(), false)
    );
    let removals = kit
        .admin
        .clone()
        .list_directory_import_removals(pb::ListDirectoryImportRemovalsRequest {
            app_id: kit.app.clone(),
            import_id: held.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .removals;
    let mut who: Vec<String> = removals
        .iter()
        .map(|r| r.external_user_id.clone())
        .collect();
    who.sort();
    assert_eq!(who, ids[..10]);
    assert!(
        kit.users().await.values().all(|s| *s == ACTIVE),
        "nothing applied while held"
    );

    let approved = kit
        .admin
        .clone()
        .decide_directory_import(pb::DecideDirectoryImportRequest {
            app_id: kit.app.clone(),
            import_id: held.id.clone(),
            approve: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.state, "succeeded");
    assert!(approved.decided_by.starts_with("admin-token:sha256:"));
    eventually("the ten deprovisioned", Duration::from_secs(15), || async {
        let users = kit.users().await;
        (users.values().filter(|s| **s == DEPROVISIONED).count() == 10).then_some(())
    })
    .await;
    let users = kit.users().await;
    for id in &ids[10..] {
        assert_eq!(users[id], ACTIVE);
    }
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_03_two_concurrent_triggers_give_one_run() {
    let kit = Kit::start(TenantKind::Okta, true, |_| {}).await;
    kit.user("00u_one", UserStatus::Active);
    let request = || {
        let mut admin = kit.admin.clone();
        let app = kit.app.clone();
        async move {
            admin
                .run_directory_import(pb::RunDirectoryImportRequest {
                    app_id: app,
                    dry_run: false,
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let (a, b) = tokio::join!(request(), request());
    assert_eq!(a.id, b.id, "{a:?} {b:?}");
    assert_eq!(u8::from(a.created) + u8::from(b.created), 1);
    assert_eq!(kit.until_done(&a.id).await.state, "succeeded");
    let runs = kit.imports().await;
    assert_eq!(runs.len(), 1);
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_01_each_credential_is_checked_before_it_is_stored() {
    use pb::set_directory_credential_request::Credential;
    let okta = Kit::start(TenantKind::Okta, false, |_| {}).await;
    let set = |kit: &Kit, credential: Credential| {
        let mut admin = kit.admin.clone();
        let app = kit.app.clone();
        async move {
            admin
                .set_directory_credential(pb::SetDirectoryCredentialRequest {
                    app_id: app,
                    credential: Some(credential),
                })
                .await
        }
    };
    // A public JWK is refused, saying so.
    let mut public = okta.okta_credential(true);
    let mut jwk: serde_json::Value = serde_json::from_str(&public.private_jwk).unwrap();
    for part in ["d", "p", "q", "dp", "dq", "qi"] {
        jwk.as_object_mut().unwrap().remove(part);
    }
    public.private_jwk = jwk.to_string();
    let refused = set(&okta, Credential::Okta(public)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().contains("private"),
        "{}",
        refused.message()
    );
    // An app without an admin role: the 403 is explained.
    let refused = set(&okta, Credential::Okta(okta.okta_credential(false)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("Read-only Administrator"),
        "{}",
        refused.message()
    );
    // A Clerk credential for an Okta IDP.
    let refused = set(
        &okta,
        Credential::Clerk(pb::ClerkDirectoryCredential {
            secret_key: "sk_test_x".into(),
            api_url: String::new(),
        }),
    )
    .await
    .unwrap_err();
    assert!(
        refused.message().contains("is a clerk credential"),
        "{}",
        refused.message()
    );
    let status = okta
        .admin
        .clone()
        .get_directory_status(pb::GetDirectoryStatusRequest {
            app_id: okta.app.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!status.credential_set, "nothing refused was stored");
    // The good one is accepted, and never returned.
    set(&okta, Credential::Okta(okta.okta_credential(true)))
        .await
        .unwrap();
    okta.admin
        .clone()
        .test_directory_credential(pb::TestDirectoryCredentialRequest {
            app_id: okta.app.clone(),
        })
        .await
        .unwrap();
    okta.finish().await;

    let clerk = Kit::start(TenantKind::Clerk, false, |_| {}).await;
    let refused = set(
        &clerk,
        Credential::Clerk(pb::ClerkDirectoryCredential {
            secret_key: "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".into(),
            api_url: clerk.sim.tenant(crate::support::TENANT).unwrap().base_url,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        refused.message().contains("publishable"),
        "{}",
        refused.message()
    );
    let refused = set(
        &clerk,
        Credential::Clerk(pb::ClerkDirectoryCredential {
            secret_key: "sk_test_not-a-key-the-simulator-issued".into(),
            api_url: clerk.sim.tenant(crate::support::TENANT).unwrap().base_url,
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    clerk.finish().await;

    let auth0 = Kit::start(TenantKind::Auth0, false, |_| {}).await;
    let weak = auth0
        .sim
        .register_auth0_client(crate::support::TENANT, &["read:clients"])
        .unwrap();
    let refused = set(
        &auth0,
        Credential::Auth0(pb::Auth0DirectoryCredential {
            domain: auth0.sim.tenant(crate::support::TENANT).unwrap().base_url,
            client_id: weak.client_id,
            client_secret: weak.client_secret,
        }),
    )
    .await
    .unwrap_err();
    assert!(
        refused.message().contains("read:users"),
        "{}",
        refused.message()
    );
    auth0.finish().await;

    let oidc = Kit::start(TenantKind::Oidc, false, |_| {}).await;
    let refused = set(
        &oidc,
        Credential::Clerk(pb::ClerkDirectoryCredential {
            secret_key: "sk_test_x".into(),
            api_url: String::new(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("no directory"),
        "{}",
        refused.message()
    );
    oidc.finish().await;
}

#[tokio::test]
async fn r_dir_03_an_idp_with_a_credential_and_no_run_is_synced_on_schedule() {
    // The credential comes last: with it, the IDP is due at once.
    let kit = Kit::start(TenantKind::Okta, false, |s| s.schedule_hours = 6).await;
    kit.user("00u_sched", UserStatus::Active);
    kit.admin
        .clone()
        .set_directory_credential(kit.good_credential())
        .await
        .unwrap();
    let run = eventually("a scheduled run", Duration::from_secs(20), || async {
        let imports = kit.imports().await;
        imports
            .into_iter()
            .find(|r| r.trigger == "schedule" && r.state == "succeeded")
    })
    .await;
    assert_eq!(run.users_imported, 1, "{run:?}");
    // Six hours (plus jitter) must pass before the next one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let imports = kit.imports().await;
    assert_eq!(imports.len(), 1, "{imports:?}");
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_04_an_import_interrupted_by_shutdown_is_failed_at_once_and_removes_nobody() {
    let mut kit = Kit::start(TenantKind::Okta, true, |_| {}).await;
    kit.user("00u_stays", UserStatus::Active);
    assert_eq!(kit.import(false).await.state, "succeeded");
    kit.sim
        .delete_user(crate::support::TENANT, "00u_stays")
        .unwrap();
    kit.sim
        .inject_fault(crate::support::TENANT, Fault::Slow { delay_ms: 2_000 })
        .unwrap();
    let run = kit
        .admin
        .clone()
        .run_directory_import(pb::RunDirectoryImportRequest {
            app_id: kit.app.clone(),
            dry_run: false,
        })
        .await
        .unwrap()
        .into_inner();
    eventually("the import running", Duration::from_secs(10), || async {
        let r = kit
            .admin
            .clone()
            .get_directory_import(pb::GetDirectoryImportRequest {
                app_id: kit.app.clone(),
                import_id: run.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        (r.state == "running").then_some(())
    })
    .await;
    let directory = kit.services.remove(1);
    directory.stop().await.unwrap();
    let ended = kit.until_done(&run.id).await;
    assert_eq!(ended.state, "failed", "{ended:?}");
    assert!(
        ended.last_error.contains("stopped during the import"),
        "{ended:?}"
    );
    assert_eq!(kit.users().await["00u_stays"], ACTIVE, "nobody removed");
    kit.finish().await;
}

/// Per provider: a full import, an unchanged re-run that writes nothing, then a user deleted
/// upstream deprovisioned (and, where the directory has groups, a member removed upstream
/// losing the membership while another keeps it).
async fn import_rerun_and_removals(kind: TenantKind) {
    let kit = Kit::start(kind, true, |_| {}).await;
    let prefix = match kind {
        TenantKind::Auth0 => "auth0|",
        TenantKind::Clerk => "user_",
        _ => "00u",
    };
    let ids: Vec<String> = (0..5)
        .map(|i| kit.user(&format!("{prefix}p{i}"), UserStatus::Active))
        .collect();
    let groups = kind != TenantKind::Auth0;
    if groups {
        kit.group("org_team", &[&ids[0], &ids[1]]);
    }
    let first = kit.import(false).await;
    assert_eq!(first.state, "succeeded", "{kind:?}: {first:?}");
    assert_eq!(first.users_imported, 5, "{kind:?}");
    assert_eq!(
        first.memberships_added,
        if groups { 2 } else { 0 },
        "{kind:?}"
    );

    let before = kit.row_versions().await;
    let again = kit.import(false).await;
    assert_eq!(
        (
            again.state.as_str(),
            again.users_imported,
            again.users_updated
        ),
        ("succeeded", 0, 0)
    );
    assert_eq!(
        kit.row_versions().await,
        before,
        "{kind:?}: an unchanged re-run writes nothing"
    );

    kit.sim
        .delete_user(crate::support::TENANT, &ids[4])
        .unwrap();
    if groups {
        kit.sim
            .remove_membership(crate::support::TENANT, "org_team", &ids[0])
            .unwrap();
    }
    let third = kit.import(false).await;
    assert_eq!(third.state, "succeeded", "{kind:?}: {third:?}");
    assert_eq!(third.users_deprovisioned, 1, "{kind:?}: {third:?}");
    assert_eq!(
        third.memberships_removed,
        u64::from(groups),
        "{kind:?}: {third:?}"
    );
    eventually("the deletion applied", Duration::from_secs(15), || async {
        (kit.users().await[&ids[4]] == DEPROVISIONED).then_some(())
    })
    .await;
    if groups {
        let groups_of = |external: String| {
            let kit = &kit;
            async move {
                let users = kit
                    .admin
                    .clone()
                    .list_users(pb::ListUsersRequest {
                        app_id: kit.app.clone(),
                        page_size: 100,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .users;
                let id = users
                    .into_iter()
                    .find(|u| u.external_id == external)
                    .unwrap()
                    .id;
                kit.admin
                    .clone()
                    .get_user(pb::GetUserRequest {
                        app_id: kit.app.clone(),
                        user_id: id,
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .groups
                    .len()
            }
        };
        eventually(
            "the membership removed",
            Duration::from_secs(15),
            || async { (groups_of(ids[0].clone()).await == 0).then_some(()) },
        )
        .await;
        assert_eq!(
            groups_of(ids[1].clone()).await,
            1,
            "the other member keeps the group"
        );
    }
    kit.finish().await;
}

#[tokio::test]
async fn r_dir_02_r_dir_04_auth0_import_rerun_and_upstream_deletion() {
    import_rerun_and_removals(TenantKind::Auth0).await;
}

#[tokio::test]
async fn r_dir_02_r_dir_04_clerk_import_rerun_and_upstream_deletion_and_membership_removal() {
    import_rerun_and_removals(TenantKind::Clerk).await;
}
