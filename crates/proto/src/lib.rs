//! Generated gRPC and protobuf types for Alter's public and internal APIs, plus the helpers
//! every gRPC server uses to serve health and reflection.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("alter.identity.v1");
    }
}
pub mod admin {
    pub mod v1 {
        tonic::include_proto!("alter.admin.v1");
    }
}
pub mod directory {
    pub mod v1 {
        tonic::include_proto!("alter.directory.v1");
    }
}
pub mod events {
    pub mod v1 {
        tonic::include_proto!("alter.events.v1");
    }
}

mod grpc_support;
pub use grpc_support::{FILE_DESCRIPTOR_SET, HealthReporter, ServingStatus, health_and_reflection};
