//! Audit-writer sustained records/s against its floor, PostgreSQL's raw batched insert.
//!
//! *Writer*: `RECORDS` provisioning audit records of one app are published to the audit stream
//! first (pipelined), then audit-writer starts in-process and the time until the app's trail
//! holds all of them (its `audit_events` row count, polled every 10 ms) gives records/s: the
//! writer consuming, hash-chaining and appending a backlog as fast as it can.
//! *Floor*: the same number of rows inserted by `INSERT … SELECT FROM UNNEST(…)`, 500 rows per
//! statement, one statement at a time on one connection, into a table made `LIKE audit_events
//! INCLUDING ALL` (the same columns, primary key, unique constraint and indexes), hashes
//! precomputed: what PostgreSQL alone takes to store those rows.

use std::time::{Duration, Instant};

use alter_bus::{AuditKind, AuditRecord};
use alter_core::{EventId, EventSource, ExternalUserId, LifecycleKind, UserId, UserRef};
use alter_store::AppStore as _;
use alter_testkit::{TestEnv, spawn};
use futures::StreamExt as _;

pub const RECORDS: usize = 20_000;
const ROWS_PER_STATEMENT: usize = 500;

pub struct Results {
    pub records: usize,
    pub writer_rate: f64,
    pub floor_rate: f64,
    pub published_rate: f64,
    pub timed_out: bool,
}

pub async fn run(env: &TestEnv) -> anyhow::Result<Results> {
    let store = env.db.store();
    let app = store.create_app("bench-audit").await?.id;
    let records: Vec<AuditRecord> = (0..RECORDS)
        .map(|i| {
            let user_id = UserId::new();
            AuditRecord {
                event_id: EventId::new(),
                app_id: app,
                source: EventSource::Jwt,
                occurred_at: chrono::Utc::now(),
                kind: AuditKind::Lifecycle(LifecycleKind::UserProvisioned {
                    user: UserRef {
                        external_id: ExternalUserId::parse("sub", &format!("auth0|audit-{i}"))
                            .expect("a valid external ID"),
                        user_id: Some(user_id),
                    },
                    email: Some(format!("audit-{i}@example.com")),
                    display_name: Some(format!("Audit {i}")),
                }),
                cause: None,
            }
        })
        .collect();
    println!("audit-writer: publishing {RECORDS} audit records …");
    let bus = env.bus.bus();
    let started = Instant::now();
    let mut published = futures::stream::iter(records.iter())
        .map(|r| bus.publish_audit(r))
        .buffer_unordered(256);
    while let Some(receipt) = published.next().await {
        receipt?;
    }
    let published_rate = RECORDS as f64 / started.elapsed().as_secs_f64();

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(env.db.url())
        .await?;
    println!("audit-writer: draining the backlog …");
    let started = Instant::now();
    let writer = spawn::<alter_audit_writer::Application>(alter_audit_writer::Config::for_tests(
        env.common(),
    ))
    .await;
    let mut timed_out = false;
    loop {
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM audit_events WHERE app_id = $1")
                .bind(app.as_uuid())
                .fetch_one(&pool)
                .await?;
        if count as usize >= RECORDS {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let writer_rate = RECORDS as f64 / started.elapsed().as_secs_f64();
    writer.stop().await.map_err(|e| anyhow::anyhow!(e))?;

    // The floor.
    println!("audit floor: raw UNNEST insert of {RECORDS} rows …");
    sqlx::query("CREATE TABLE bench_audit_floor (LIKE audit_events INCLUDING ALL)")
        .execute(&pool)
        .await?;
    let app_uuid = app.as_uuid();
    let started = Instant::now();
    for (chunk_index, chunk) in records.chunks(ROWS_PER_STATEMENT).enumerate() {
        let base = (chunk_index * ROWS_PER_STATEMENT) as i64;
        let n = chunk.len();
        let seqs: Vec<i64> = (1..=n as i64).map(|s| base + s).collect();
        let event_ids: Vec<uuid::Uuid> = chunk.iter().map(|r| r.event_id.as_uuid()).collect();
        let kinds = vec!["user_provisioned".to_owned(); n];
        let sources = vec!["jwt".to_owned(); n];
        let users: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::new_v4()).collect();
        let times: Vec<chrono::DateTime<chrono::Utc>> =
            chunk.iter().map(|r| r.occurred_at).collect();
        let details: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({
                    "external_id": format!("auth0|audit-{}", base as usize + i),
                    "email": format!("audit-{}@example.com", base as usize + i),
                    "display_name": format!("Audit {}", base as usize + i),
                })
            })
            .collect();
        let hashes: Vec<Vec<u8>> = (0..n).map(|i| vec![(i % 251) as u8; 32]).collect();
        sqlx::query(
            "INSERT INTO bench_audit_floor \
             (app_id, seq, event_id, kind, source, user_id, occurred_at, detail, prev_hash, hash) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::uuid[], $4::text[], $5::text[], \
             $6::uuid[], $7::timestamptz[], $8::jsonb[], $9::bytea[], $10::bytea[])",
        )
        .bind(app_uuid)
        .bind(&seqs)
        .bind(&event_ids)
        .bind(&kinds)
        .bind(&sources)
        .bind(&users)
        .bind(&times)
        .bind(&details)
        .bind(&hashes)
        .bind(&hashes)
        .execute(&pool)
        .await?;
    }
    let floor_rate = RECORDS as f64 / started.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE bench_audit_floor")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(Results {
        records: RECORDS,
        writer_rate,
        floor_rate,
        published_rate,
        timed_out,
    })
}
