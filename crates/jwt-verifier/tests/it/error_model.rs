//! R-JWT-12: refusals in the standard gRPC error model. The bytes of `grpc-status-details-bin`
//! are decoded here the way every gRPC library does — as a `google.rpc.Status`, with a
//! message type written out from `google/rpc/status.proto`, not the server's own types.

use alter_bus::Invalidation;
use alter_core::{UserId, UserStatus};
use alter_idp_sim::{TenantKind, TokenSpec};
use alter_jwt_verifier::REFUSAL_METADATA_KEY;
use alter_proto::identity::v1::{RefusalDetail, RefusalReason};
use alter_store::UserStore;
use alter_testkit::standard_status::{GoogleRpcBadRequest, standard_status};
use prost::Message;
use serde_json::json;
use tonic::Code;

use crate::support::{AUDIENCE, Harness, mappings};

#[tokio::test]
async fn r_jwt_12_refusal_detail_is_a_standard_google_rpc_status() {
    let h = Harness::start().await;
    let app = h.app("std", TenantKind::Auth0, mappings()).await;
    let expired = TokenSpec {
        expires_in: Some(-3600),
        ..TokenSpec::new("auth0|1", json!(AUDIENCE))
    };
    let status = h
        .verify(app.id, &h.mint_spec(&app, expired))
        .await
        .expect_err("an expired token is refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let standard = standard_status(&status);
    assert_eq!(
        standard.code, 16,
        "UNAUTHENTICATED is 16 in google.rpc.Code"
    );
    assert!(standard.message.contains("expired"), "{standard:?}");
    let any = standard.details.first().expect("details[0]");
    assert_eq!(
        any.type_url,
        "type.googleapis.com/alter.identity.v1.RefusalDetail"
    );
    let detail = RefusalDetail::decode(any.value.as_slice()).expect("a RefusalDetail");
    assert_eq!(detail.reason(), RefusalReason::Expired);
    assert_eq!(detail.message, status.message());
    // The label for clients that read no details is still there.
    assert_eq!(
        status
            .metadata()
            .get(REFUSAL_METADATA_KEY)
            .and_then(|v| v.to_str().ok()),
        Some("expired")
    );

    // A refusal of the user, not the token, has its own code and the same shape.
    let store = h.store();
    let token = h.mint(&app, "auth0|2", &[]);
    let answer = h.verify(app.id, &token).await.expect("first sign-in");
    let user = UserId::parse("user.id", &answer.user.expect("user").id).unwrap();
    store
        .set_user_status(app.id, user, UserStatus::Suspended, 1)
        .await
        .expect("suspend");
    h.invalidate(app.id, Invalidation::User { user_id: user })
        .await;
    let status = h.verify(app.id, &token).await.expect_err("suspended");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let standard = standard_status(&status);
    let detail = RefusalDetail::decode(standard.details[0].value.as_slice()).unwrap();
    assert_eq!(detail.reason(), RefusalReason::UserSuspended);
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_12_a_malformed_request_field_is_named_in_a_standard_bad_request() {
    let h = Harness::start().await;
    let status = h.verify_raw("not-a-uuid", "x.y.z").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let standard = standard_status(&status);
    let any = standard.details.first().expect("details[0]");
    assert_eq!(any.type_url, "type.googleapis.com/google.rpc.BadRequest");
    let bad = GoogleRpcBadRequest::decode(any.value.as_slice()).expect("a BadRequest");
    assert_eq!(bad.field_violations.len(), 1, "{bad:?}");
    assert_eq!(bad.field_violations[0].field, "app_id");
    assert!(
        !bad.field_violations[0].description.is_empty(),
        "{bad:?} says why"
    );
    assert!(
        alter_jwt_verifier::refusal_of(&status).is_none(),
        "a request error is not a refusal"
    );
    h.stop().await;
}
