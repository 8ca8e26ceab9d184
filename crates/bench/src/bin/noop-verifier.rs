//! The transport floor of the verify benchmark: an `alter.identity.v1.Verifier` that does no
//! work and answers every call with one canned `VerifyResponse` (captured from the real
//! verifier by the benchmark, so the answer has the same encoded size). Served like
//! `jwt-verifier` serves (tonic's default server over a tokio listener, a multi-threaded
//! runtime sized by `TOKIO_WORKER_THREADS`), so its CPU per call and latency are what gRPC,
//! HTTP/2 and protobuf cost for a call of Verify's sizes.
//!
//! Usage: `noop-verifier <listen address> <answer: hex of the protobuf-encoded VerifyResponse>`

use std::net::SocketAddr;

use alter_proto::identity::v1::verifier_server::{Verifier, VerifierServer};
use alter_proto::identity::v1::{VerifyRequest, VerifyResponse};
use anyhow::Context;
use prost::Message;
use tonic::{Request, Response, Status};

struct Noop {
    answer: VerifyResponse,
}

#[tonic::async_trait]
impl Verifier for Noop {
    async fn verify(
        &self,
        request: Request<VerifyRequest>,
    ) -> Result<Response<VerifyResponse>, Status> {
        // Decoded by tonic like any request; dropped unread.
        drop(request.into_inner());
        Ok(Response::new(self.answer.clone()))
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(answer), None) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: noop-verifier <listen address> <hex of a VerifyResponse>");
    };
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("the listen address `{listen}` is not host:port"))?;
    let answer = VerifyResponse::decode(hex::decode(answer)?.as_slice())
        .context("the answer is not a hex-encoded VerifyResponse")?;
    // As `alter_runtime::run_service` builds it for every service.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        tonic::transport::Server::builder()
            .add_service(VerifierServer::new(Noop { answer }))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await?;
        Ok(())
    })
}
