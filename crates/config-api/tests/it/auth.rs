//! Admin authentication: a bearer token whose hash is configured; nothing else gets in.

use alter_proto::admin::v1 as pb;
use tonic::Code;

use crate::support::{Harness, assert_status, client};

#[tokio::test]
async fn every_call_needs_a_configured_admin_bearer_token() {
    let mut h = Harness::start().await;
    let mut anonymous = client(&h.service, None).await;
    let err = anonymous
        .list_apps(pb::ListAppsRequest::default())
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::Unauthenticated,
        &["authorization", "Bearer", "ALTER_ADMIN_TOKEN"],
    );
    let err = anonymous
        .create_app(pb::CreateAppRequest {
            name: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut wrong = client(&h.service, Some("alt_adm_wrong")).await;
    let err = wrong
        .list_apps(pb::ListAppsRequest::default())
        .await
        .unwrap_err();
    assert_status(&err, Code::Unauthenticated, &["not valid"]);
    assert!(
        !err.message().contains("alt_adm_wrong"),
        "the token is never echoed"
    );

    let app = h.app("ok").await;
    let apps = h
        .client
        .list_apps(pb::ListAppsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        apps.apps.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![app.to_string()]
    );
    // Refusals are counted by method and code on /metrics.
    let metrics = reqwest::get(format!("{}/metrics", h.service.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("alter_admin_calls_total")
                && l.contains("ListApps")
                && l.contains("Unauthenticated")),
        "{metrics}"
    );
    h.finish().await;
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_malformed_ones_name_the_field() {
    let mut h = Harness::start().await;
    let err = h
        .client
        .get_app(pb::GetAppRequest {
            app_id: alter_core::AppId::new().to_string(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, &["app", "alter apps list"]);
    let err = h
        .client
        .get_app(pb::GetAppRequest {
            app_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, &["app_id"]);
    let err = h
        .client
        .create_app(pb::CreateAppRequest {
            name: "".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, &["name"]);
    h.finish().await;
}
