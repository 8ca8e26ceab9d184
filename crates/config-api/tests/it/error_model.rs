//! The admin API's errors in the standard gRPC error model: an invalid argument carries a
//! `google.rpc.BadRequest` naming the field, decoded here from `grpc-status-details-bin` the
//! way any gRPC client library does (message types written out from the google.rpc protos).

use alter_idp_sim::TenantKind;
use alter_proto::admin::v1 as pb;
use prost::Message;
use tonic::Code;

use crate::support::Harness;

#[derive(Clone, PartialEq, prost::Message)]
struct GoogleRpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GoogleRpcBadRequest {
    #[prost(message, repeated, tag = "1")]
    field_violations: Vec<GoogleRpcFieldViolation>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GoogleRpcFieldViolation {
    #[prost(string, tag = "1")]
    field: String,
    #[prost(string, tag = "2")]
    description: String,
}

/// The one field violation of `status`, after checking the standard status agrees with it.
fn field_violation(status: &tonic::Status) -> GoogleRpcFieldViolation {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let standard = GoogleRpcStatus::decode(status.details())
        .unwrap_or_else(|e| panic!("grpc-status-details-bin is not a google.rpc.Status: {e}"));
    assert_eq!(standard.code, 3, "INVALID_ARGUMENT is 3 in google.rpc.Code");
    assert_eq!(standard.message, status.message());
    let any = standard.details.first().expect("details[0]");
    assert_eq!(any.type_url, "type.googleapis.com/google.rpc.BadRequest");
    let bad = GoogleRpcBadRequest::decode(any.value.as_slice()).expect("a BadRequest");
    assert_eq!(bad.field_violations.len(), 1, "{bad:?}");
    bad.field_violations[0].clone()
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
