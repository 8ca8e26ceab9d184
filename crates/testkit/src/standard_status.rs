//! Reads a gRPC error the way a standard client library does (grpcio-status, grpc-go's
//! `status.FromError`, …): `grpc-status-details-bin` decoded as a `google.rpc.Status`, with
//! message types written out from the `google/rpc` protos — never the server's own types.

#![allow(clippy::panic, reason = "a test kit fails the test loudly")]

use prost::Message;

/// `google.rpc.Status` as a standard client declares it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GoogleRpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

/// `google.rpc.BadRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GoogleRpcBadRequest {
    #[prost(message, repeated, tag = "1")]
    pub field_violations: Vec<GoogleRpcFieldViolation>,
}

/// `google.rpc.BadRequest.FieldViolation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GoogleRpcFieldViolation {
    #[prost(string, tag = "1")]
    pub field: String,
    #[prost(string, tag = "2")]
    pub description: String,
}

/// The `google.rpc.Status` a client finds in `grpc-status-details-bin`, checked to agree with
/// the gRPC status itself (code and message), which is what standard clients insist on.
pub fn standard_status(status: &tonic::Status) -> GoogleRpcStatus {
    assert!(
        !status.details().is_empty(),
        "no grpc-status-details-bin in {status:?}"
    );
    let standard = GoogleRpcStatus::decode(status.details())
        .unwrap_or_else(|e| panic!("grpc-status-details-bin is not a google.rpc.Status: {e}"));
    assert_eq!(standard.code, status.code() as i32, "{standard:?}");
    assert_eq!(standard.message, status.message(), "{standard:?}");
    standard
}

/// The field violations of an INVALID_ARGUMENT status's `google.rpc.BadRequest`.
pub fn field_violations(status: &tonic::Status) -> Vec<GoogleRpcFieldViolation> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let standard = standard_status(status);
    let Some(any) = standard.details.first() else {
        panic!("no details in {standard:?}");
    };
    assert_eq!(any.type_url, "type.googleapis.com/google.rpc.BadRequest");
    GoogleRpcBadRequest::decode(any.value.as_slice())
        .unwrap_or_else(|e| panic!("details[0] is not a google.rpc.BadRequest: {e}"))
        .field_violations
}
