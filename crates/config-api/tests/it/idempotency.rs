//! Create calls carry a client request ID: a retry (after a timeout, say) returns what the
//! first call created instead of creating it twice; the same ID for another request is refused.

use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;
use alter_proto::identity::v1::PrincipalKind;
use tonic::Code;

use crate::support::{Harness, assert_status, pb_kind};

fn system_grant(app: &str, credential: &str, request_id: &str) -> pb::CreateGrantRequest {
    pb::CreateGrantRequest {
        app_id: app.to_owned(),
        credential_ref: credential.to_owned(),
        principal_kind: PrincipalKind::System.into(),
        request_id: request_id.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_retried_create_grant_with_the_same_request_id_makes_one_grant() {
    let mut h = Harness::start().await;
    let (app, _) = h.app_with_idp("idem", TenantKind::Clerk, None).await;
    let app = app.to_string();
    let first = h
        .client
        .create_grant(system_grant(&app, "db:orders", "req-1"))
        .await
        .unwrap()
        .into_inner();
    let retry = h
        .client
        .create_grant(system_grant(&app, "db:orders", "req-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, retry, "the retry answers the first call's grant");
    let listed = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: app.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.grants.len(), 1, "{listed:?}");

    // The same ID with other parameters is a client bug: refused, naming the field.
    let reused = h
        .client
        .create_grant(system_grant(&app, "db:invoices", "req-1"))
        .await
        .unwrap_err();
    assert_status(
        &reused,
        Code::FailedPrecondition,
        &["request_id", "req-1", "different"],
    );

    // Without a request ID every call creates (the old contract).
    for _ in 0..2 {
        h.client
            .create_grant(system_grant(&app, "db:orders", ""))
            .await
            .unwrap();
    }
    let listed = h
        .client
        .list_grants(pb::ListGrantsRequest {
            app_id: app.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.grants.len(), 3);

    let bad = h
        .client
        .create_grant(system_grant(&app, "db:orders", "has space"))
        .await
        .unwrap_err();
    assert_status(&bad, Code::InvalidArgument, &["request_id", "printable"]);
    h.finish().await;
}

#[tokio::test]
async fn retried_create_app_and_create_idp_return_what_the_first_call_created() {
    let mut h = Harness::start().await;
    let create_app = || pb::CreateAppRequest {
        name: "Acme".into(),
        request_id: "app-req".into(),
    };
    let first = h
        .client
        .create_app(create_app())
        .await
        .unwrap()
        .into_inner();
    let retry = h
        .client
        .create_app(create_app())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, retry.id);
    let apps = h
        .client
        .list_apps(pb::ListAppsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(apps.apps.len(), 1, "{apps:?}");

    let issuer = h.tenant("idem-idp", TenantKind::Clerk);
    let create_idp = || pb::CreateIdpRequest {
        app_id: first.id.clone(),
        issuer: issuer.clone(),
        kind: pb_kind(TenantKind::Clerk).into(),
        audience: "https://api.example.test".into(),
        request_id: "idp-req".into(),
        ..Default::default()
    };
    let idp = h
        .client
        .create_idp(create_idp())
        .await
        .unwrap()
        .into_inner();
    let again = h
        .client
        .create_idp(create_idp())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        idp.id, again.id,
        "a retry is not a second IDP (R-CFG-01 stands)"
    );
    // Another request for the same app is still refused: one IDP per app.
    let other = h
        .client
        .create_idp(pb::CreateIdpRequest {
            request_id: "idp-req-2".into(),
            ..create_idp()
        })
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::AlreadyExists, "{other:?}");
    h.finish().await;
}

#[tokio::test]
async fn a_change_answers_once_its_side_effects_are_on_the_bus() {
    use alter_store::OutboxStore;
    let mut h = Harness::start().await;
    let (app, _) = h.app_with_idp("settled", TenantKind::Clerk, None).await;
    for credential in ["db:a", "db:b", "db:c"] {
        h.client
            .create_grant(system_grant(&app.to_string(), credential, ""))
            .await
            .unwrap();
        // Committed with its audit record and invalidation, and both published before the
        // answer: nothing of it waits in the outbox.
        let backlog = h.store.outbox_backlog().await.unwrap();
        assert_eq!(backlog.pending, 0, "{backlog:?}");
    }
    h.finish().await;
}
