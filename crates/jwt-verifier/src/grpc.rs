//! `alter.identity.v1.Verifier` over gRPC: a thin adapter from the wire to [`Verifier`],
//! plus a client constructor for callers and benchmarks.

use std::sync::Arc;

use alter_proto::identity::v1::verifier_client::VerifierClient;
use alter_proto::identity::v1::verifier_server::{Verifier as VerifierApi, VerifierServer};
use alter_proto::identity::v1::{VerifyRequest, VerifyResponse};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::verifier::Verifier;

/// The gRPC service around a shared [`Verifier`].
#[derive(Clone, Debug)]
pub struct VerifierService {
    verifier: Arc<Verifier>,
}

impl VerifierService {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> VerifierServer<Self> {
        VerifierServer::new(self)
    }
}

#[tonic::async_trait]
impl VerifierApi for VerifierService {
    async fn verify(
        &self,
        request: Request<VerifyRequest>,
    ) -> Result<Response<VerifyResponse>, Status> {
        let request = request.into_inner();
        let answer = self
            .verifier
            .verify(&request.app_id, &request.token)
            .await?;
        Ok(Response::new(answer))
    }
}

/// A client for the Verifier at `url` (e.g. `http://127.0.0.1:50052`), connected eagerly
/// so a wrong address fails here rather than on the first call.
pub async fn connect(url: String) -> Result<VerifierClient<Channel>, tonic::transport::Error> {
    VerifierClient::connect(url).await
}
