//! The SQLite side of the embedded bus: streams, durable consumer positions and outstanding
//! deliveries in one file (WAL, `BEGIN IMMEDIATE` for every read-then-write transaction, so
//! concurrent consumers never hand out the same message twice).
//!
//! Every write transaction runs in a task of its own: SQLite has one write lock per file, and
//! a transaction whose future a caller stops polling (a stream in a `select`, a publish
//! beside a timeout) would otherwise hold it and stall every other writer of the process.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::{BusError, NatsError};
use crate::names::StreamKind;
use crate::outgoing::Outgoing;

/// Connections in the pool: one per consumer fetch, ack or publish in progress; SQLite runs
/// one writer at a time whatever the number.
const POOL_SIZE: u32 = 8;

/// How long a write waits for another connection's (or process's) write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The table that records which of the bus's migrations ran: not sqlx's default, so that
/// the file may also hold the embedded store (which has its own migrations).
const MIGRATIONS_TABLE: &str = "_alter_bus_migrations";

fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("./migrations-embedded");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// The stream's key in the tables.
fn key(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Lifecycle => "lifecycle",
        StreamKind::Audit => "audit",
    }
}

/// Milliseconds of a duration, saturating (a 584-million-year ack wait is "forever").
pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Now, in Unix milliseconds: times are stored as wall-clock so they survive a restart.
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

/// A message handed to a consumer by [`Store::fetch`].
#[derive(Debug)]
pub(super) struct Fetched {
    pub(super) sequence: i64,
    /// 1 on first delivery.
    pub(super) delivery_count: i64,
    pub(super) subject: String,
    /// The envelope as stored (JSON).
    pub(super) headers: String,
    pub(super) payload: Vec<u8>,
}

/// What a consumer found.
#[derive(Debug)]
pub(super) enum Fetch {
    Message(Fetched),
    /// Nothing to deliver now; `next_due` is when an outstanding delivery times out or a
    /// nak'd one becomes due.
    Idle {
        next_due: Option<i64>,
    },
}

/// How the consumer settles and redelivers, from the config.
#[derive(Clone, Copy, Debug)]
pub(super) struct Redelivery {
    pub(super) ack_wait: Duration,
    /// Below 1: no limit.
    pub(super) max_deliver: i64,
}

/// Counts of a stream's stored messages.
#[derive(Debug)]
pub(super) struct StreamCounts {
    pub(super) messages: i64,
    pub(super) first_sequence: Option<i64>,
    pub(super) last_sequence: i64,
}

/// Counts of a consumer's position.
#[derive(Debug)]
pub(super) struct ConsumerCounts {
    pub(super) next_sequence: i64,
    pub(super) ack_pending: i64,
    pub(super) undelivered: i64,
}

/// The pool on the bus's file.
#[derive(Clone, Debug)]
pub(super) struct Store {
    pool: SqlitePool,
    path: String,
    /// One writer at a time in this process, queued here (woken the moment the previous one
    /// ends) rather than by SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between tries.
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (creating if missing) and migrates the file.
    pub(super) async fn open(path: &Path) -> Result<Self, BusError> {
        let display = path.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Committed to the WAL: survives a crash of the process; a power loss may lose the
            // last commits (as JetStream's default, which syncs to disk every two minutes).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await
            .map_err(|e| store_error(&display, "opening the file", e))?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| store_error(&display, "applying its schema migrations", e))?;
        Ok(Self {
            pool,
            path: display,
            writers: Arc::default(),
        })
    }

    /// The file's path, for messages.
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    fn error(&self, what: impl Into<String>, source: impl Into<NatsError>) -> BusError {
        store_error(&self.path, what, source)
    }

    /// Closes the pool; later calls fail.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    pub(super) fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// Makes every delivery that was in flight due at once. Called on open: the consumers
    /// that held them belonged to the process that had the file open before (a restart or a
    /// crash), so waiting out their ack wait would only delay the redelivery.
    pub(super) async fn release_in_flight(&self, now: i64) -> Result<u64, BusError> {
        let _turn = self.writers.clone().lock_owned().await;
        let done =
            sqlx::query("UPDATE bus_pending SET due_at = ?1, in_flight = 0 WHERE in_flight = 1")
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| self.error("releasing the previous process's deliveries", e))?;
        Ok(done.rows_affected())
    }

    /// Stores messages in one transaction and returns `(sequence, duplicate)` for each, in
    /// order. A message whose ID was stored within `duplicate_window` is dropped and reports
    /// the original's sequence (a duplicate within the batch included).
    pub(super) async fn append(
        &self,
        kind: StreamKind,
        messages: Vec<Outgoing>,
        now: i64,
        duplicate_window: Duration,
    ) -> Result<Vec<(u64, bool)>, BusError> {
        let Some(subject) = messages.first().map(|m| m.subject.clone()) else {
            return Ok(Vec::new());
        };
        let pool = self.pool.clone();
        let writers = self.writers.clone();
        let work = async move {
            let _turn = writers.lock_owned().await;
            let mut tx = pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(|e| BusError::publish(subject.as_str(), e))?;
            let window_start = now.saturating_sub(millis(duplicate_window));
            let mut appended = Vec::with_capacity(messages.len());
            for message in &messages {
                let result = append_one(&mut tx, kind, message, now, window_start)
                    .await
                    .map_err(|e| BusError::publish(message.subject.as_str(), e))?;
                appended.push(result);
            }
            tx.commit()
                .await
                .map_err(|e| BusError::publish(subject.as_str(), e))?;
            Ok(appended)
        };
        tokio::spawn(work)
            .await
            .map_err(|e| self.error("storing a publish", e))?
    }

    /// Creates the durable consumer unless it exists. A new one starts at the first stored
    /// message (JetStream's `DeliverPolicy::All`).
    pub(super) async fn ensure_consumer(
        &self,
        kind: StreamKind,
        name: &str,
        now: i64,
    ) -> Result<(), BusError> {
        let _turn = self.writers.clone().lock_owned().await;
        sqlx::query(
            "INSERT INTO bus_consumers (stream, name, next_sequence, created_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (stream, name) DO NOTHING",
        )
        .bind(key(kind))
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.error(format!("creating consumer {name} on stream {}", key(kind)), e))?;
        Ok(())
    }

    /// Hands the consumer its next message: a due redelivery first (in sequence order), else
    /// the next message never delivered to it. The delivery is recorded (count, ack deadline)
    /// in the same transaction. Run it in a task of its own,
    /// as the consumer stream does (so that a dropped stream can hand the message back).
    pub(super) async fn fetch(
        &self,
        kind: StreamKind,
        consumer: &str,
        now: i64,
        redelivery: Redelivery,
    ) -> Result<Fetch, BusError> {
        let run = async {
            let _turn = self.writers.clone().lock_owned().await;
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let fetched = fetch_in(&mut tx, kind, consumer, now, redelivery).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(fetched)
        };
        run.await.map_err(|e| {
            self.error(
                format!("fetching for consumer {consumer} on stream {}", key(kind)),
                e,
            )
        })
    }

    /// Settles a delivery as processed: never delivered again (whichever delivery of the
    /// message acks it).
    pub(super) async fn ack(
        &self,
        kind: StreamKind,
        consumer: &str,
        sequence: i64,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.writers.clone().lock_owned().await;
        sqlx::query(
            "DELETE FROM bus_pending WHERE stream = ?1 AND consumer = ?2 AND sequence = ?3",
        )
        .bind(key(kind))
        .bind(consumer)
        .bind(sequence)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Terminates delivery `attempt` of a message: never delivered again. A superseded
    /// delivery (the message was redelivered since) changes nothing.
    pub(super) async fn term(
        &self,
        kind: StreamKind,
        consumer: &str,
        sequence: i64,
        attempt: i64,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.writers.clone().lock_owned().await;
        sqlx::query(
            "DELETE FROM bus_pending
             WHERE stream = ?1 AND consumer = ?2 AND sequence = ?3 AND delivery_count = ?4",
        )
        .bind(key(kind))
        .bind(consumer)
        .bind(sequence)
        .bind(attempt)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Schedules the redelivery of delivery `attempt` at `due_at`; returns whether it was
    /// still the message's latest delivery.
    pub(super) async fn nak(
        &self,
        kind: StreamKind,
        consumer: &str,
        sequence: i64,
        attempt: i64,
        due_at: i64,
    ) -> Result<bool, sqlx::Error> {
        let _turn = self.writers.clone().lock_owned().await;
        let done = sqlx::query(
            "UPDATE bus_pending SET due_at = ?5, in_flight = 0
             WHERE stream = ?1 AND consumer = ?2 AND sequence = ?3 AND delivery_count = ?4",
        )
        .bind(key(kind))
        .bind(consumer)
        .bind(sequence)
        .bind(attempt)
        .bind(due_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves the ack deadline of delivery `attempt`, while it is in flight, to `due_at`.
    pub(super) async fn extend(
        &self,
        kind: StreamKind,
        consumer: &str,
        sequence: i64,
        attempt: i64,
        due_at: i64,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.writers.clone().lock_owned().await;
        sqlx::query(
            "UPDATE bus_pending SET due_at = ?5
             WHERE stream = ?1 AND consumer = ?2 AND sequence = ?3 AND delivery_count = ?4
               AND in_flight = 1",
        )
        .bind(key(kind))
        .bind(consumer)
        .bind(sequence)
        .bind(attempt)
        .bind(due_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes, per stream, the messages older than `max_age`, and those every consumer of
    /// the stream has settled once they are older than `duplicate_window` (so the window still
    /// sees them). A stream without consumers keeps its messages until `max_age`. Returns how
    /// many messages were deleted.
    pub(super) async fn purge(
        &self,
        now: i64,
        max_age: Duration,
        duplicate_window: Duration,
    ) -> Result<u64, BusError> {
        let store = self.clone();
        let work = async move {
            let mut deleted = 0;
            for kind in StreamKind::ALL {
                let run = async {
                    let _turn = store.writers.clone().lock_owned().await;
                    let mut tx = store.pool.begin_with("BEGIN IMMEDIATE").await?;
                    let deleted = purge_in(&mut tx, kind, now, max_age, duplicate_window).await?;
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(deleted)
                };
                deleted += run
                    .await
                    .map_err(|e| store.error(format!("purging stream {}", key(kind)), e))?;
            }
            Ok(deleted)
        };
        tokio::spawn(work)
            .await
            .map_err(|e| self.error("purging", e))?
    }

    /// The stream's stored messages.
    pub(super) async fn stream_counts(&self, kind: StreamKind) -> Result<StreamCounts, BusError> {
        let what = || format!("reading the state of stream {}", key(kind));
        let mut tx = self.pool.begin().await.map_err(|e| self.error(what(), e))?;
        let (messages, first_sequence): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(sequence) FROM bus_messages WHERE stream = ?1")
                .bind(key(kind))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.error(what(), e))?;
        let last_sequence: i64 =
            sqlx::query_scalar("SELECT last_sequence FROM bus_streams WHERE stream = ?1")
                .bind(key(kind))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.error(what(), e))?;
        tx.commit().await.map_err(|e| self.error(what(), e))?;
        Ok(StreamCounts {
            messages,
            first_sequence,
            last_sequence,
        })
    }

    /// The consumer's position, if it exists.
    pub(super) async fn consumer_counts(
        &self,
        kind: StreamKind,
        name: &str,
    ) -> Result<Option<ConsumerCounts>, BusError> {
        let what = || {
            format!(
                "reading the state of consumer {name} on stream {}",
                key(kind)
            )
        };
        let mut tx = self.pool.begin().await.map_err(|e| self.error(what(), e))?;
        let next_sequence: Option<i64> = sqlx::query_scalar(
            "SELECT next_sequence FROM bus_consumers WHERE stream = ?1 AND name = ?2",
        )
        .bind(key(kind))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.error(what(), e))?;
        let Some(next_sequence) = next_sequence else {
            return Ok(None);
        };
        let ack_pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bus_pending WHERE stream = ?1 AND consumer = ?2",
        )
        .bind(key(kind))
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(what(), e))?;
        let undelivered: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM bus_messages WHERE stream = ?1 AND sequence >= ?2",
        )
        .bind(key(kind))
        .bind(next_sequence)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.error(what(), e))?;
        tx.commit().await.map_err(|e| self.error(what(), e))?;
        Ok(Some(ConsumerCounts {
            next_sequence,
            ack_pending,
            undelivered,
        }))
    }
}

fn store_error(path: &str, what: impl Into<String>, source: impl Into<NatsError>) -> BusError {
    BusError::EmbeddedStore {
        path: path.to_owned(),
        what: what.into(),
        source: source.into(),
    }
}

async fn append_one(
    tx: &mut Transaction<'static, Sqlite>,
    kind: StreamKind,
    message: &Outgoing,
    now: i64,
    window_start: i64,
) -> Result<(u64, bool), sqlx::Error> {
    let message_id = message.headers.message_id();
    if let Some(id) = message_id {
        // MIN rather than ORDER BY … LIMIT 1, which would lead the planner to the primary key.
        let original: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(sequence) FROM bus_messages
             WHERE stream = ?1 AND message_id = ?2 AND published_at >= ?3",
        )
        .bind(key(kind))
        .bind(id)
        .bind(window_start)
        .fetch_one(&mut **tx)
        .await?;
        if let Some(sequence) = original {
            return Ok((sequence.unsigned_abs(), true));
        }
    }
    let sequence: i64 = sqlx::query_scalar(
        "UPDATE bus_streams SET last_sequence = last_sequence + 1 WHERE stream = ?1
         RETURNING last_sequence",
    )
    .bind(key(kind))
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO bus_messages (stream, sequence, subject, message_id, headers, payload, published_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(key(kind))
    .bind(sequence)
    .bind(message.subject.as_str())
    .bind(message_id)
    .bind(message.headers.to_json())
    .bind(message.payload.as_ref())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok((sequence.unsigned_abs(), false))
}

async fn fetch_in(
    tx: &mut Transaction<'static, Sqlite>,
    kind: StreamKind,
    consumer: &str,
    now: i64,
    redelivery: Redelivery,
) -> Result<Fetch, sqlx::Error> {
    let stream = key(kind);
    let deadline = now.saturating_add(millis(redelivery.ack_wait));
    // Redeliveries first, as JetStream does. A due one that has had its deliveries, or whose
    // message was purged, is dropped and the next one tried.
    loop {
        type Due = (i64, i64, Option<String>, Option<String>, Option<Vec<u8>>);
        let due: Option<Due> = sqlx::query_as(
            "SELECT p.sequence, p.delivery_count, m.subject, m.headers, m.payload
             FROM bus_pending p
             LEFT JOIN bus_messages m ON m.stream = p.stream AND m.sequence = p.sequence
             WHERE p.stream = ?1 AND p.consumer = ?2 AND p.due_at <= ?3
             ORDER BY p.sequence LIMIT 1",
        )
        .bind(stream)
        .bind(consumer)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((sequence, count, subject, headers, payload)) = due else {
            break;
        };
        let exhausted = redelivery.max_deliver >= 1 && count >= redelivery.max_deliver;
        match (subject, headers, payload) {
            (Some(subject), Some(headers), Some(payload)) if !exhausted => {
                sqlx::query(
                    "UPDATE bus_pending SET delivery_count = ?4, due_at = ?5, in_flight = 1
                     WHERE stream = ?1 AND consumer = ?2 AND sequence = ?3",
                )
                .bind(stream)
                .bind(consumer)
                .bind(sequence)
                .bind(count + 1)
                .bind(deadline)
                .execute(&mut **tx)
                .await?;
                return Ok(Fetch::Message(Fetched {
                    sequence,
                    delivery_count: count + 1,
                    subject,
                    headers,
                    payload,
                }));
            }
            (Some(subject), ..) => tracing::warn!(
                stream,
                consumer,
                sequence,
                subject,
                deliveries = count,
                "giving up on a message: delivered max_deliver times without being acked"
            ),
            _ => {}
        }
        sqlx::query(
            "DELETE FROM bus_pending WHERE stream = ?1 AND consumer = ?2 AND sequence = ?3",
        )
        .bind(stream)
        .bind(consumer)
        .bind(sequence)
        .execute(&mut **tx)
        .await?;
    }

    let next_sequence: Option<i64> = sqlx::query_scalar(
        "SELECT next_sequence FROM bus_consumers WHERE stream = ?1 AND name = ?2",
    )
    .bind(stream)
    .bind(consumer)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(next_sequence) = next_sequence {
        let next: Option<(i64, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT sequence, subject, headers, payload FROM bus_messages
             WHERE stream = ?1 AND sequence >= ?2 ORDER BY sequence LIMIT 1",
        )
        .bind(stream)
        .bind(next_sequence)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((sequence, subject, headers, payload)) = next {
            sqlx::query(
                "INSERT INTO bus_pending (stream, consumer, sequence, delivery_count, due_at, in_flight)
                 VALUES (?1, ?2, ?3, 1, ?4, 1)",
            )
            .bind(stream)
            .bind(consumer)
            .bind(sequence)
            .bind(deadline)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE bus_consumers SET next_sequence = ?3 WHERE stream = ?1 AND name = ?2",
            )
            .bind(stream)
            .bind(consumer)
            .bind(sequence + 1)
            .execute(&mut **tx)
            .await?;
            return Ok(Fetch::Message(Fetched {
                sequence,
                delivery_count: 1,
                subject,
                headers,
                payload,
            }));
        }
    }

    let next_due: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(due_at) FROM bus_pending WHERE stream = ?1 AND consumer = ?2",
    )
    .bind(stream)
    .bind(consumer)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Fetch::Idle { next_due })
}

async fn purge_in(
    tx: &mut Transaction<'static, Sqlite>,
    kind: StreamKind,
    now: i64,
    max_age: Duration,
    duplicate_window: Duration,
) -> Result<u64, sqlx::Error> {
    let stream = key(kind);
    let aged = sqlx::query("DELETE FROM bus_messages WHERE stream = ?1 AND published_at < ?2")
        .bind(stream)
        .bind(now.saturating_sub(millis(max_age)))
        .execute(&mut **tx)
        .await?
        .rows_affected();
    // The lowest sequence some consumer has not settled: its oldest pending delivery, or
    // the first message it has not been handed yet. NULL when the stream has no consumer.
    let settled_below: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(COALESCE(
             (SELECT MIN(p.sequence) FROM bus_pending p
              WHERE p.stream = c.stream AND p.consumer = c.name),
             c.next_sequence))
         FROM bus_consumers c WHERE c.stream = ?1",
    )
    .bind(stream)
    .fetch_one(&mut **tx)
    .await?;
    let settled = match settled_below {
        Some(below) => sqlx::query(
            "DELETE FROM bus_messages WHERE stream = ?1 AND sequence < ?2 AND published_at < ?3",
        )
        .bind(stream)
        .bind(below)
        .bind(now.saturating_sub(millis(duplicate_window)))
        .execute(&mut **tx)
        .await?
        .rows_affected(),
        None => 0,
    };
    // Deliveries of messages that aged out.
    sqlx::query(
        "DELETE FROM bus_pending WHERE stream = ?1 AND NOT EXISTS (
             SELECT 1 FROM bus_messages m
             WHERE m.stream = bus_pending.stream AND m.sequence = bus_pending.sequence)",
    )
    .bind(stream)
    .execute(&mut **tx)
    .await?;
    Ok(aged + settled)
}
