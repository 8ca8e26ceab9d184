//! The small kit every test sets up through.

use std::sync::Arc;

use alter_core::{
    AppId, ClaimMappings, ExternalGroupId, ExternalUserId, GroupId, IdpId, IdpKind, UserId,
};
use alter_store::testing::{SqliteTestDatabase, TestDatabase};
use alter_store::{
    GroupUpsert, NewIdp, OutboxMessage, OutboxTopic, SealedSecret, SecretPurpose, Store, UserUpsert,
};

/// The database a test runs on: the same contract is checked against both adapters.
pub enum TestBackend {
    Postgres(TestDatabase),
    Sqlite(SqliteTestDatabase),
}

/// A fresh database and the store over it.
pub struct TestStore {
    pub backend: TestBackend,
    pub store: Arc<dyn Store>,
}

impl TestStore {
    /// A PostgreSQL store: for the tests that reach under the store into PostgreSQL itself.
    pub async fn new() -> Self {
        Self::postgres().await
    }

    pub async fn postgres() -> Self {
        let db = TestDatabase::create()
            .await
            .expect("create test database (is Postgres up? scripts/services.sh up)");
        let store: Arc<dyn Store> = Arc::new(db.store());
        Self {
            backend: TestBackend::Postgres(db),
            store,
        }
    }

    pub async fn sqlite() -> Self {
        let db = SqliteTestDatabase::create()
            .await
            .expect("create SQLite test database");
        let store: Arc<dyn Store> = Arc::new(db.store());
        Self {
            backend: TestBackend::Sqlite(db),
            store,
        }
    }

    /// The PostgreSQL test database (only PostgreSQL-specific tests ask for it).
    pub fn pg(&self) -> &TestDatabase {
        match &self.backend {
            TestBackend::Postgres(db) => db,
            TestBackend::Sqlite(_) => {
                panic!("this test reaches into PostgreSQL; run it on TestStore::postgres()")
            }
        }
    }

    /// `SELECT count(*) …` with one UUID parameter, on whichever database the test runs
    /// (the SQL must be valid on both).
    pub async fn count(&self, sql: &'static str, id: Option<uuid::Uuid>) -> i64 {
        match &self.backend {
            TestBackend::Postgres(db) => {
                let query = sqlx::query_scalar(sql);
                let query = match id {
                    Some(id) => query.bind(id),
                    None => query,
                };
                query.fetch_one(db.pool()).await.expect("count")
            }
            TestBackend::Sqlite(db) => {
                let store = db.store();
                let query = sqlx::query_scalar(sql);
                let query = match id {
                    Some(id) => query.bind(id),
                    None => query,
                };
                query.fetch_one(store.pool()).await.expect("count")
            }
        }
    }

    /// How many outbox rows carry `message`'s ID: 1 when it was written with its change.
    pub async fn outbox_rows(&self, message: &OutboxMessage) -> i64 {
        self.count(
            "SELECT count(*) FROM outbox WHERE id = $1",
            Some(message.id),
        )
        .await
    }

    /// Whether the test runs on SQLite (for the few statements written twice).
    pub fn is_sqlite(&self) -> bool {
        matches!(self.backend, TestBackend::Sqlite(_))
    }

    /// An app with an IDP of `kind`.
    pub async fn app_with_idp(&self, kind: IdpKind) -> (AppId, IdpId) {
        let app = self.store.create_app("test app").await.expect("create app");
        let idp = self
            .store
            .create_idp(app.id, &new_idp(kind))
            .await
            .expect("create idp");
        (app.id, idp.id)
    }

    /// A user created just in time with the given external ID.
    pub async fn user(&self, app: AppId, idp: IdpId, external: &str) -> UserId {
        self.store
            .upsert_user(app, idp, &UserUpsert::jit(ext_user(external), None, None))
            .await
            .expect("upsert user")
            .user
            .id
    }

    /// A group with the given external ID.
    pub async fn group(&self, app: AppId, external: &str) -> GroupId {
        let groups = self
            .store
            .upsert_groups(
                app,
                &[GroupUpsert {
                    external_id: ext_group(external),
                    name: Some(external.to_owned()),
                }],
            )
            .await
            .expect("upsert group");
        groups[0].id
    }

    pub async fn finish(self) {
        let Self { backend, store } = self;
        drop(store);
        match backend {
            TestBackend::Postgres(db) => db.cleanup().await.expect("drop test database"),
            TestBackend::Sqlite(db) => db.cleanup().await.expect("remove test database"),
        }
    }
}

pub fn new_idp(kind: IdpKind) -> NewIdp {
    NewIdp {
        kind,
        issuer: "https://tenant.auth0.com/".to_owned(),
        jwks_uri: "https://tenant.auth0.com/.well-known/jwks.json".to_owned(),
        audience: "https://api.example.com".to_owned(),
        claim_mappings: ClaimMappings::default(),
        sign_in: None,
    }
}

/// A side effect to hand to a change: a message with a fresh ID.
pub fn effect(app: AppId, topic: OutboxTopic) -> OutboxMessage {
    OutboxMessage {
        id: uuid::Uuid::now_v7(),
        app_id: app,
        topic,
        payload: topic.as_str().as_bytes().to_vec(),
    }
}

pub fn ext_user(id: &str) -> ExternalUserId {
    ExternalUserId::parse("sub", id).expect("external user id")
}

pub fn ext_group(id: &str) -> ExternalGroupId {
    ExternalGroupId::parse("group", id).expect("external group id")
}

/// Runs each named `async fn(TestStore)` once on PostgreSQL and once on SQLite: the store
/// contract both adapters keep (`<module>::postgres::<name>`, `<module>::sqlite::<name>`).
macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::TestStore::postgres().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::TestStore::sqlite().await).await;
                }
            )*
        }
    };
}
pub(crate) use contract_tests;

// Set-up helpers the audit, webhook, directory-run and directory-sync suites share.
impl TestStore {
    /// An app named `name`.
    pub async fn seed_app(&self, name: &str) -> AppId {
        self.store.create_app(name).await.expect("create app").id
    }

    /// An app with an IDP of `kind` ([`TestStore::app_with_idp`]).
    pub async fn seed_app_with_idp(&self, kind: IdpKind) -> (AppId, IdpId) {
        self.app_with_idp(kind).await
    }

    /// An active user ([`TestStore::user`]).
    pub async fn seed_user(&self, app: AppId, idp: IdpId, external: &str) -> UserId {
        self.user(app, idp, external).await
    }

    /// A group ([`TestStore::group`]), marked deleted when `deleted`.
    pub async fn seed_group(&self, app: AppId, external: &str, deleted: bool) -> GroupId {
        let group = self.group(app, external).await;
        if deleted {
            self.store
                .mark_group_deleted(app, group)
                .await
                .expect("mark group deleted");
        }
        group
    }

    /// A directory credential for the IDP (`put_secret`).
    pub async fn seed_directory_credential(&self, app: AppId, idp: IdpId, sealed: &SealedSecret) {
        self.store
            .put_secret(app, idp, SecretPurpose::DirectoryCredential, sealed)
            .await
            .expect("put directory credential");
    }
}

// --- SQL on either backend (added with the SQLite port of users, groups, grants, lifecycle).

impl TestStore {
    /// Runs one statement with UUID parameters on whichever database the test runs, as a
    /// test that checks what the schema itself refuses (the SQL must be valid on both).
    pub async fn execute(&self, sql: &'static str, ids: &[uuid::Uuid]) -> Result<u64, sqlx::Error> {
        match &self.backend {
            TestBackend::Postgres(db) => {
                let mut query = sqlx::query(sql);
                for id in ids {
                    query = query.bind(*id);
                }
                Ok(query.execute(db.pool()).await?.rows_affected())
            }
            TestBackend::Sqlite(db) => {
                let store = db.store();
                let mut query = sqlx::query(sql);
                for id in ids {
                    query = query.bind(*id);
                }
                Ok(query.execute(store.pool()).await?.rows_affected())
            }
        }
    }
}
