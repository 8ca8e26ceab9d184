//! Test support (feature `testing`): a fresh, migrated PostgreSQL database per test, so tests
//! run in parallel against the real server without seeing each other's rows, and a fresh
//! SQLite file per test for the embedded adapter.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgPool};

use std::path::{Path, PathBuf};

use crate::error::{StoreError, StoreResult};
use crate::postgres::{MIGRATOR, PgStore, pool_options};
use crate::sqlite::SqliteStore;

/// Where the test server is, unless `ALTER_TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://alter:alter@127.0.0.1:5432/alter";

/// A database named `alter_test_<random>` with the migrations applied. Call
/// [`TestDatabase::cleanup`] at the end of a test; if a test fails first, `Drop` removes the
/// database on a helper thread (best effort).
pub struct TestDatabase {
    pool: PgPool,
    url: String,
    name: String,
    admin_url: String,
    dropped: bool,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// Creates and migrates a new database on the server at `ALTER_TEST_DATABASE_URL`
    /// (default [`DEFAULT_TEST_DATABASE_URL`]; the role must be allowed to CREATE DATABASE).
    pub async fn create() -> StoreResult<Self> {
        Self::create_migrated(None).await
    }

    /// Like [`create`](Self::create), with only the migrations up to and including `version`
    /// applied: the schema an older release left behind, for testing an upgrade (apply the
    /// rest with [`MIGRATOR`](crate::MIGRATOR)`.run(db.pool())`).
    pub async fn create_migrated_to(version: i64) -> StoreResult<Self> {
        Self::create_migrated(Some(version)).await
    }

    async fn create_migrated(up_to: Option<i64>) -> StoreResult<Self> {
        let admin_url = std::env::var("ALTER_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        let name = format!("alter_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnectOptions::from_str(&admin_url)?.connect().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;

        let url = with_database(&admin_url, &name);
        let pool = pool_options(8).connect(&url).await?;
        match up_to {
            None => MIGRATOR.run(&pool).await?,
            Some(version) => MIGRATOR.run_to(version, &pool).await?,
        }
        Ok(Self {
            pool,
            url,
            name,
            admin_url,
            dropped: false,
        })
    }

    /// A pool connected to the test database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The connection URL of the test database (to hand to a service under test).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A [`PgStore`] over this database's pool.
    pub fn store(&self) -> PgStore {
        PgStore::new(self.pool.clone())
    }

    /// Closes the pool and drops the database (`WITH (FORCE)`, so stray connections do not
    /// keep it alive).
    pub async fn cleanup(mut self) -> StoreResult<()> {
        self.pool.close().await;
        drop_database(&self.admin_url, &self.name).await?;
        self.dropped = true;
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Runs on its own thread and runtime: Drop may be called inside (or outside) a
        // runtime, and a runtime cannot be blocked on from within another.
        let handle = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            let _ = runtime.block_on(drop_database(&admin_url, &name));
        });
        let _ = handle.join();
    }
}

async fn drop_database(admin_url: &str, name: &str) -> StoreResult<()> {
    let mut admin = PgConnectOptions::from_str(admin_url)?.connect().await?;
    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    // `FORCE` may not terminate a backend of another role (an autovacuum worker that just
    // started on the database: SQLSTATE 42501); it is gone a moment later.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match sqlx::query(sqlx::AssertSqlSafe(drop.clone()))
            .execute(&mut admin)
            .await
        {
            Ok(_) => break,
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("42501") && attempt < 20 =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

/// A fresh, migrated SQLite file in its own temporary directory: the embedded adapter's
/// counterpart of [`TestDatabase`]. The directory is removed by [`cleanup`](Self::cleanup)
/// or, if a test fails first, by `Drop`.
#[derive(Debug)]
pub struct SqliteTestDatabase {
    store: SqliteStore,
    dir: PathBuf,
}

impl SqliteTestDatabase {
    /// Creates `alter_test_<random>/store.sqlite3` under the system's temporary directory.
    pub async fn create() -> StoreResult<Self> {
        let dir =
            std::env::temp_dir().join(format!("alter_test_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| {
            StoreError::corrupt(
                "test directory",
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
        let store = SqliteStore::open(&dir.join("store.sqlite3"), 4).await?;
        Ok(Self { store, dir })
    }

    /// The store over the file.
    pub fn store(&self) -> SqliteStore {
        self.store.clone()
    }

    /// The database file's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Closes the pool and removes the directory.
    pub async fn cleanup(self) -> StoreResult<()> {
        self.store.close().await;
        Ok(())
    }
}

impl Drop for SqliteTestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `url` with its database name (the last path segment) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_end..].find('/') {
        Some(i) => &base[..authority_end + i],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://a:b@h:5432/alter", "x"),
            "postgres://a:b@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://a:b@h:5432", "x"),
            "postgres://a:b@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://h/alter?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
