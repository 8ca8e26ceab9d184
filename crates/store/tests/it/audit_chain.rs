//! R-AUD-04: the audit chain's hash is defined in Rust (`alter_store::audit_chain`): its
//! canonical form is pinned, the PostgreSQL adapter writes and verifies it, tampering is named
//! at the first changed row, and rows hashed by the SQL formula before it (version 1) still
//! verify.

use alter_core::{AppId, EventId, EventSource, UserId};
use alter_store::audit_chain::{ChainedFields, HashVersion, write_canonical_json};
use alter_store::testing::TestDatabase;
use alter_store::{
    AppendOutcome, AuditEvent, AuditQuery, AuditStore, ChainVerification, GENESIS_HASH, MIGRATOR,
    NewAuditEvent, PgStore,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::audit::tamper;
use crate::support::{TestStore, contract_tests};

/// The last migration of the release that hashed the chain in SQL only.
const BEFORE_HASH_VERSIONS: i64 = 20250101000000;

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical_json(value, &mut out);
    String::from_utf8(out).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A row with every field set, and a detail that exercises key order, nesting, escapes,
/// non-ASCII text and the number forms that `jsonb` rewrites.
fn golden_row() -> AuditEvent {
    AuditEvent {
        app_id: AppId::from_uuid(uuid("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")),
        seq: 42,
        event_id: EventId::from_uuid(uuid("01936f2e-1d2c-7b3a-9e8f-7a6b5c4d3e2f")),
        kind: "user_provisioned".to_owned(),
        source: EventSource::Webhook,
        user_id: Some(UserId::from_uuid(uuid(
            "0193a000-0000-7000-8000-00000000beef",
        ))),
        occurred_at: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
            + Duration::microseconds(123_456),
        recorded_at: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 1).unwrap()
            + Duration::milliseconds(500),
        detail: serde_json::from_str(
            r#"{ "user": { "email": "zoë@example.com", "external_id": "auth0|42" },
                 "event_id": "01936f2e-1d2c-7b3a-9e8f-7a6b5c4d3e2f",
                 "counts": [1, 2.50, 1e15, -7, 0.1],
                 "note": "line\nbreak \"quoted\" \\ slash/",
                 "empty": {}, "none": null, "ok": true }"#,
        )
        .unwrap(),
        prev_hash: vec![0x11; 32],
        hash: Vec::new(),
        hash_version: HashVersion::V2,
    }
}

#[test]
fn r_aud_04_the_canonical_form_of_a_row_and_its_chain_hash_are_stable() {
    let row = golden_row();
    assert_eq!(
        canonical_json(&row.detail),
        r#"{"counts":[1,2.5,1000000000000000,-7,0.1],"empty":{},"event_id":"01936f2e-1d2c-7b3a-9e8f-7a6b5c4d3e2f","none":null,"note":"line\nbreak \"quoted\" \\ slash/","ok":true,"user":{"email":"zoë@example.com","external_id":"auth0|42"}}"#
    );
    let fields = ChainedFields::from(&row);
    let canonical = fields.canonical();
    assert!(canonical.starts_with(b"alter.audit.row.v2\0"));
    assert_eq!(canonical.len(), 355);
    // Pinned: a change to the canonical form breaks every trail written before it. Introduce
    // a new hash version instead (docs/adr/0007-audit-chain-hash-in-rust.md).
    assert_eq!(
        hex(&fields.hash(&row.prev_hash)),
        "848936a69e08e8ad77de1af37fbc6063405f0323a7474af3738648a6ebddd335"
    );

    // The user is optional, and absent is not the nil UUID.
    let mut no_user = golden_row();
    no_user.user_id = None;
    let nil_user = AuditEvent {
        user_id: Some(UserId::from_uuid(Uuid::nil())),
        ..golden_row()
    };
    let first = ChainedFields::from(&no_user).hash(&GENESIS_HASH);
    assert_eq!(
        hex(&first),
        "9cf422fa4d8956bd0829b6b1a13269b434597d9f8b0dd1a2ca9a6d7aa446bf32"
    );
    assert_ne!(first, ChainedFields::from(&nil_user).hash(&GENESIS_HASH));
}

/// Details whose text `jsonb` does not keep as written: reordered keys, rewritten numbers.
fn tricky_details() -> Vec<Value> {
    vec![
        json!({}),
        json!({ "z": 1, "a": 2, "aa": 3, "b": { "y": [3, 2, 1], "x": null } }),
        serde_json::from_str(r#"{"floats": [1e15, 1.0, -0.0, 0.1, 2.5e-8, 1.5e300, 123456.789]}"#)
            .unwrap(),
        json!({ "ints": [u64::MAX, i64::MIN, 0, -1] }),
        json!({ "text": "é😀 \u{1} \t \" \\ / \u{7f} \u{2028}", "": "empty key" }),
        json!([1, "two", [3, [4, {"five": 5}]]]),
        json!("a bare string"),
        json!(12.5),
    ]
}

fn new_event(detail: Value, user: Option<UserId>, at: DateTime<Utc>) -> NewAuditEvent {
    NewAuditEvent {
        event_id: EventId::new(),
        kind: "user_updated".to_owned(),
        source: EventSource::DirectorySync,
        user_id: user,
        occurred_at: at,
        detail,
    }
}

fn at(second: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 8, 0, 0).unwrap()
        + Duration::seconds(second)
        + Duration::nanoseconds(987_654_321)
}

async fn all_rows(store: &dyn AuditStore, app: AppId) -> Vec<AuditEvent> {
    store
        .list_audit_events(
            app,
            &AuditQuery {
                limit: 1000,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap()
}

async fn r_aud_04_a_chain_written_through_postgres_verifies_and_is_recomputed_in_rust(
    t: TestStore,
) {
    let app = t.seed_app("chain").await;
    let user = Some(UserId::new());
    let details = tricky_details();
    let (first, second) = details.split_at(3);
    for batch in [first, second] {
        let events: Vec<NewAuditEvent> = batch
            .iter()
            .enumerate()
            .map(|(i, d)| {
                new_event(
                    d.clone(),
                    if i % 2 == 0 { user } else { None },
                    at(i as i64),
                )
            })
            .collect();
        t.store.append_audit_events(app, &events).await.unwrap();
    }

    let rows = all_rows(t.store.as_ref(), app).await;
    assert_eq!(rows.len(), details.len());
    let mut prev = GENESIS_HASH.to_vec();
    for (row, detail) in rows.iter().zip(&details) {
        assert_eq!(row.hash_version, HashVersion::V2);
        // jsonb may rewrite the detail's text (1e15 reads back as an integer), never its value.
        assert_eq!(
            canonical_json(&row.detail),
            canonical_json(detail),
            "row {} keeps its detail",
            row.seq
        );
        assert_eq!(
            row.prev_hash, prev,
            "row {} links to its predecessor",
            row.seq
        );
        // What was read back hashes to what was written: the form survives jsonb.
        assert_eq!(
            ChainedFields::from(row).hash(&row.prev_hash).to_vec(),
            row.hash,
            "row {} (detail {detail})",
            row.seq
        );
        assert_eq!(row.occurred_at.timestamp_subsec_nanos() % 1000, 0);
        prev.clone_from(&row.hash);
    }
    assert_eq!(
        t.store.verify_audit_chain(app).await.unwrap(),
        ChainVerification::Intact {
            rows: details.len() as u64
        }
    );
    t.finish().await;
}

/// The owner's edits of row 3, one per stored field: (field, PostgreSQL, SQLite).
const EDITS: [(&str, &str, &str); 9] = [
    (
        "kind",
        "UPDATE audit_events SET kind = 'user_reactivated' WHERE app_id = $1 AND seq = 3",
        "UPDATE audit_events SET kind = 'user_reactivated' WHERE app_id = $1 AND seq = 3",
    ),
    (
        "source",
        "UPDATE audit_events SET source = 'admin' WHERE app_id = $1 AND seq = 3",
        "UPDATE audit_events SET source = 'admin' WHERE app_id = $1 AND seq = 3",
    ),
    (
        "user",
        "UPDATE audit_events SET user_id = NULL WHERE app_id = $1 AND seq = 3",
        "UPDATE audit_events SET user_id = NULL WHERE app_id = $1 AND seq = 3",
    ),
    (
        "occurred_at",
        "UPDATE audit_events SET occurred_at = occurred_at - interval '1 microsecond' WHERE app_id = $1 AND seq = 3",
        // at(2) is …:02.987654 once stored.
        "UPDATE audit_events SET occurred_at = replace(occurred_at, '.987654', '.987653') WHERE app_id = $1 AND seq = 3",
    ),
    (
        "recorded_at",
        "UPDATE audit_events SET recorded_at = recorded_at + interval '1 day' WHERE app_id = $1 AND seq = 3",
        "UPDATE audit_events SET recorded_at = strftime('%Y-%m-%dT%H:%M:%S', recorded_at, '+1 day') \
         || substr(recorded_at, 20) WHERE app_id = $1 AND seq = 3",
    ),
    (
        "detail",
        "UPDATE audit_events SET detail = detail || '{\"forged\": true}' WHERE app_id = $1 AND seq = 3",
        "UPDATE audit_events SET detail = json_set(detail, '$.forged', json('true')) WHERE app_id = $1 AND seq = 3",
    ),
    (
        "event",
        "UPDATE audit_events SET event_id = gen_random_uuid() WHERE app_id = $1 AND seq = 3",
        "UPDATE audit_events SET event_id = randomblob(16) WHERE app_id = $1 AND seq = 3",
    ),
    (
        "hash",
        "UPDATE audit_events SET hash = sha256(hash) WHERE app_id = $1 AND seq = 3",
        "UPDATE audit_events SET hash = randomblob(32) WHERE app_id = $1 AND seq = 3",
    ),
    (
        "version",
        "UPDATE audit_events SET hash_version = 1 WHERE app_id = $1 AND seq = 3",
        // Past the schema's CHECK (hash_version = 2), which the owner can switch off.
        "UPDATE audit_events SET hash_version = 1 WHERE app_id = $1 AND seq = 3",
    ),
];

async fn r_aud_04_a_row_changed_by_the_database_owner_is_named_as_the_first_broken_row(
    t: TestStore,
) {
    for (field, postgres, sqlite) in EDITS {
        let sql = if t.is_sqlite() { sqlite } else { postgres };
        let app = t.seed_app(field).await;
        let events: Vec<NewAuditEvent> = tricky_details()
            .into_iter()
            .take(5)
            .enumerate()
            .map(|(i, d)| new_event(d, Some(UserId::new()), at(i as i64)))
            .collect();
        t.store.append_audit_events(app, &events).await.unwrap();
        assert_eq!(
            t.store.verify_audit_chain(app).await.unwrap(),
            ChainVerification::Intact { rows: 5 }
        );

        tamper(&t, sql, app).await;
        match t.store.verify_audit_chain(app).await.unwrap() {
            ChainVerification::Broken { seq, reason } => {
                assert_eq!(seq, 3, "{field}: {reason}");
                assert!(reason.contains("changed"), "{field}: {reason}");
            }
            intact => panic!("changing the {field} of row 3 went unnoticed: {intact:?}"),
        }
    }

    // Re-linking the row after it to a forged hash breaks the link, not the content.
    let app = t.seed_app("link").await;
    let events: Vec<NewAuditEvent> = (0..3)
        .map(|i| new_event(json!({ "i": i }), None, at(i)))
        .collect();
    t.store.append_audit_events(app, &events).await.unwrap();
    let forged_link = if t.is_sqlite() {
        "UPDATE audit_events SET prev_hash = randomblob(32) WHERE app_id = $1 AND seq = 2"
    } else {
        "UPDATE audit_events SET prev_hash = sha256(prev_hash) WHERE app_id = $1 AND seq = 2"
    };
    tamper(&t, forged_link, app).await;
    match t.store.verify_audit_chain(app).await.unwrap() {
        ChainVerification::Broken { seq, reason } => {
            assert_eq!(seq, 2);
            assert!(reason.contains("prev_hash"), "{reason}");
        }
        intact => panic!("a forged link went unnoticed: {intact:?}"),
    }
    t.finish().await;
}

/// The append of the release before hash versions, verbatim: the chain computed in SQL over
/// `jsonb` text, rows inserted without a `hash_version`.
const LEGACY_APPEND: &str = "
WITH RECURSIVE input AS (
    SELECT * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::timestamptz[], $7::text[])
        WITH ORDINALITY AS t(event_id, kind, source, user_id, occurred_at, detail, ord)
),
fresh AS (
    SELECT i.event_id, i.kind, i.source, i.user_id, i.occurred_at, i.detail::jsonb AS detail,
           row_number() OVER (ORDER BY i.ord) AS n
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.app_id = $1 AND a.event_id = i.event_id)
),
chain AS (
    SELECT f.n, $8::bigint + f.n AS seq, f.event_id, f.kind, f.source, f.user_id, f.occurred_at, f.detail,
           $9::bytea AS prev_hash,
           sha256($9::bytea || audit_payload($1, $8::bigint + f.n, f.event_id, f.kind, f.source, f.user_id,
                                             f.occurred_at, f.detail)) AS hash
    FROM fresh f WHERE f.n = 1
    UNION ALL
    SELECT f.n, c.seq + 1, f.event_id, f.kind, f.source, f.user_id, f.occurred_at, f.detail,
           c.hash,
           sha256(c.hash || audit_payload($1, c.seq + 1, f.event_id, f.kind, f.source, f.user_id,
                                          f.occurred_at, f.detail))
    FROM chain c JOIN fresh f ON f.n = c.n + 1
)
INSERT INTO audit_events (app_id, seq, event_id, kind, source, user_id, occurred_at, detail, prev_hash, hash)
SELECT $1, seq, event_id, kind, source, user_id, occurred_at, detail, prev_hash, hash FROM chain";

/// Appends `events` as a writer of the previous release does (advisory lock, head, insert).
async fn legacy_append(pool: &PgPool, app: AppId, events: &[NewAuditEvent]) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(0x4155_4454_i32)
        .bind(app.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let head = sqlx::query(
        "SELECT seq, hash FROM audit_events WHERE app_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(app.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .unwrap();
    let (seq, hash): (i64, Vec<u8>) = match head {
        Some(row) => (row.get("seq"), row.get("hash")),
        None => (0, GENESIS_HASH.to_vec()),
    };
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id.as_uuid()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let sources: Vec<&str> = events.iter().map(|e| e.source.as_str()).collect();
    let users: Vec<Option<Uuid>> = events
        .iter()
        .map(|e| e.user_id.map(|u| u.as_uuid()))
        .collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.occurred_at).collect();
    let details: Vec<String> = events.iter().map(|e| e.detail.to_string()).collect();
    sqlx::query(LEGACY_APPEND)
        .bind(app.as_uuid())
        .bind(&ids)
        .bind(&kinds)
        .bind(&sources)
        .bind(&users)
        .bind(&times)
        .bind(&details)
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// A database as the previous release left it, with one app.
async fn legacy_database() -> (TestDatabase, AppId) {
    let db = TestDatabase::create_migrated_to(BEFORE_HASH_VERSIONS)
        .await
        .expect("create test database (is Postgres up? scripts/services.sh up)");
    let app = AppId::new();
    sqlx::query("INSERT INTO apps (id, name) VALUES ($1, 'upgraded')")
        .bind(app.as_uuid())
        .execute(db.pool())
        .await
        .unwrap();
    (db, app)
}

fn batch(range: std::ops::Range<i64>) -> Vec<NewAuditEvent> {
    let details = tricky_details();
    range
        .map(|i| {
            let detail = details[i as usize % details.len()].clone();
            new_event(detail, Some(UserId::new()), at(i))
        })
        .collect()
}

fn versions(rows: &[AuditEvent]) -> Vec<i16> {
    rows.iter().map(|r| r.hash_version.number()).collect()
}

#[tokio::test]
async fn r_aud_04_a_trail_of_version_1_rows_then_version_2_rows_verifies_end_to_end() {
    let (db, app) = legacy_database().await;
    legacy_append(db.pool(), app, &batch(0..3)).await;
    legacy_append(db.pool(), app, &batch(3..5)).await;

    // The upgrade: rows already written keep version 1.
    MIGRATOR.run(db.pool()).await.unwrap();
    let store = PgStore::new(db.pool().clone());
    assert_eq!(versions(&all_rows(&store, app).await), [1; 5]);
    assert_eq!(
        store.verify_audit_chain(app).await.unwrap(),
        ChainVerification::Intact { rows: 5 }
    );

    // A redelivered legacy event is still a duplicate; new rows are version 2 and continue
    // the chain from the last version-1 hash.
    let mut redelivered = batch(0..1);
    redelivered[0].event_id = all_rows(&store, app).await[0].event_id;
    let next = [redelivered, batch(5..8)].concat();
    let outcome = store.append_audit_events(app, &next).await.unwrap();
    assert_eq!(
        outcome,
        AppendOutcome {
            appended: 3,
            duplicates: 1,
            last_seq: 8
        }
    );
    let rows = all_rows(&store, app).await;
    assert_eq!(versions(&rows), [1, 1, 1, 1, 1, 2, 2, 2]);
    assert_eq!(rows[5].prev_hash, rows[4].hash);
    assert_eq!(
        store.verify_audit_chain(app).await.unwrap(),
        ChainVerification::Intact { rows: 8 }
    );

    // Version-1 rows are recomputed, not trusted: changing one is still found.
    let mut tx = db.pool().begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET kind = 'forged' WHERE app_id = $1 AND seq = 4")
        .bind(app.as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    match store.verify_audit_chain(app).await.unwrap() {
        ChainVerification::Broken { seq, reason } => {
            assert_eq!(seq, 4);
            assert!(reason.contains("changed"), "{reason}");
        }
        intact => panic!("a changed version-1 row went unnoticed: {intact:?}"),
    }
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn r_aud_04_a_writer_of_the_previous_release_keeps_the_chain_verifiable_during_an_upgrade() {
    let (db, app) = legacy_database().await;
    legacy_append(db.pool(), app, &batch(0..2)).await;
    MIGRATOR.run(db.pool()).await.unwrap();
    let store = PgStore::new(db.pool().clone());

    // Old and new writers interleave while replicas are replaced.
    store.append_audit_events(app, &batch(2..4)).await.unwrap();
    legacy_append(db.pool(), app, &batch(4..6)).await;
    store.append_audit_events(app, &batch(6..7)).await.unwrap();

    let rows = all_rows(&store, app).await;
    assert_eq!(versions(&rows), [1, 1, 2, 2, 1, 1, 2]);
    assert_eq!(
        store.verify_audit_chain(app).await.unwrap(),
        ChainVerification::Intact { rows: 7 }
    );
    db.cleanup().await.unwrap();
}

contract_tests!(
    r_aud_04_a_chain_written_through_postgres_verifies_and_is_recomputed_in_rust,
    r_aud_04_a_row_changed_by_the_database_owner_is_named_as_the_first_broken_row,
);
