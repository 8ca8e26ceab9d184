//! gRPC health and reflection, served next to every service's own gRPC API.

use tonic::service::Routes;
pub use tonic_health::ServingStatus;
pub use tonic_health::server::HealthReporter;

/// The encoded `FileDescriptorSet` of every Alter proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/alter_descriptor.bin"));

/// Builds the routes for `grpc.health.v1.Health` and `grpc.reflection.v1.ServerReflection`.
///
/// The health reporter starts with the overall service ("") set to SERVING; callers mark
/// their named services with `reporter.set_serving::<S>()` and flip to NOT_SERVING on shutdown.
pub async fn health_and_reflection()
-> Result<(Routes, HealthReporter), tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let routes = Routes::new(health).add_service(reflection);
    Ok((routes, reporter))
}
