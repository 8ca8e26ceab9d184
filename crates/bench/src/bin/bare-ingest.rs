//! The floor of the webhook benchmark: an axum handler at webhook-ingest's route
//! (`POST /v1/webhooks/{idp_id}`) that does nothing but publish the body it gets to a
//! JetStream stream (file storage, like the lifecycle stream) and wait for the ack, then
//! answers 200 with a small JSON body. No authentication, no parsing, no database. Served
//! like webhook-ingest serves (axum over a tokio listener, a multi-threaded runtime sized by
//! `TOKIO_WORKER_THREADS`), so its CPU per request is what HTTP/1.1, axum and one JetStream
//! publish with its ack cost on this machine.
//!
//! Usage: `bare-ingest <listen address> <nats url> <subject>` (the stream over `<subject>`
//! must exist; the benchmark creates and deletes it).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

struct Bare {
    js: async_nats::jetstream::Context,
    subject: String,
}

async fn receive(State(bare): State<Arc<Bare>>, Path(_idp): Path<String>, body: Bytes) -> Response {
    let acked = match bare.js.publish(bare.subject.clone(), body).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    if acked {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"accepted":1,"duplicates":0,"ignored":0,"rejected":0}"#,
        )
            .into_response()
    } else {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(nats), Some(subject), None) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: bare-ingest <listen address> <nats url> <subject>");
    };
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("the listen address `{listen}` is not host:port"))?;
    // As `alter_runtime::run_service` builds it for every service.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let client = async_nats::connect(&nats).await?;
        let bare = Arc::new(Bare {
            js: async_nats::jetstream::new(client),
            subject,
        });
        let router = axum::Router::new()
            .route("/v1/webhooks/{idp_id}", post(receive))
            .with_state(bare);
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, router).await?;
        Ok(())
    })
}
