//! The admin API's errors in the standard gRPC error model: an invalid argument carries a
//! `google.rpc.BadRequest` naming the field, decoded here from `grpc-status-details-bin` the
//! way any gRPC client library does (message types written out from the google.rpc protos).

use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;

use crate::support::Harness;

/// The one field violation of `status`, read as a standard client reads it.
fn field_violation(
    status: &tonic::Status,
) -> alter_testkit::standard_status::GoogleRpcFieldViolation {
    let mut violations = alter_testkit::standard_status::field_violations(status);
    assert_eq!(violations.len(), 1, "{violations:?}");
    violations.remove(0)
}

#[tokio::test]
async fn r_cfg_06_missing_audience_is_a_standard_bad_request_naming_the_field() {
    let mut h = Harness::start().await;
    let app = h.app("std-aud").await;
    let issuer = h.tenant("std-aud", TenantKind::Auth0);
    let err = h
        .client
        .create_idp(pb::CreateIdpRequest {
            app_id: app.to_string(),
            issuer: issuer.clone(),
            kind: pb::IdpKind::Auth0.into(),
            audience: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let violation = field_violation(&err);
    assert_eq!(violation.field, "audience");
    assert!(
        violation.description.starts_with("is required"),
        "{violation:?}"
    );

    // A malformed ID in another call, and a field inside a nested message.
    let err = h
        .client
        .get_app(pb::GetAppRequest {
            app_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(field_violation(&err).field, "app_id");
    let err = h
        .create_idp(
            app,
            &issuer,
            pb::IdpKind::Auth0,
            Some(pb::ClaimMappings {
                group_claim: "my groups".into(),
                ..Default::default()
            }),
        )
        .await
        .unwrap_err();
    let violation = field_violation(&err);
    assert_eq!(violation.field, "claim_mappings.group_claim");
    assert!(
        violation.description.contains("whitespace"),
        "{violation:?}"
    );
    h.finish().await;
}
