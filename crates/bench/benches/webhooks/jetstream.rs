//! JetStream streams of the benchmark's own (file storage, like the lifecycle stream), and the
//! raw publish floor: messages published with up to `in_flight` acks outstanding.

use std::collections::VecDeque;
use std::time::Instant;

use async_nats::jetstream::{self, stream};
use axum::body::Bytes;

pub struct Results {
    pub rate: f64,
    pub messages: usize,
    pub bytes: usize,
    pub in_flight: usize,
}

/// A new file-storage stream over `subject`; returns the context to delete it with.
pub async fn create_stream(name: &str, subject: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::connect(alter_bus::testing::test_nats_url()).await?;
    let js = jetstream::new(client);
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    Ok(js)
}

pub async fn pipelined(in_flight: usize, bytes: usize, messages: usize) -> anyhow::Result<Results> {
    let nonce = std::process::id();
    let (name, subject) = (format!("BENCH_RAW_{nonce}"), format!("bench.raw.{nonce}"));
    let js = create_stream(&name, &subject).await?;
    let payload = Bytes::from(vec![b'x'; bytes]);
    let mut pending = VecDeque::with_capacity(in_flight);
    let started = Instant::now();
    for _ in 0..messages {
        if pending.len() == in_flight {
            let ack: jetstream::context::PublishAckFuture = pending.pop_front().unwrap();
            ack.await?;
        }
        pending.push_back(js.publish(subject.clone(), payload.clone()).await?);
    }
    while let Some(ack) = pending.pop_front() {
        ack.await?;
    }
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    js.delete_stream(&name).await?;
    Ok(Results {
        rate,
        messages,
        bytes,
        in_flight,
    })
}
