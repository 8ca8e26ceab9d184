//! The test kit itself: every test database disappears, whether or not `cleanup` ran.

use alter_store::testing::TestDatabase;

async fn database_exists(admin: &sqlx::PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_test_database_is_migrated_and_dropped_by_cleanup_or_by_drop() {
    let observer = TestDatabase::create().await.unwrap();
    let admin = observer.pool().clone();

    let cleaned = TestDatabase::create().await.unwrap();
    let name = cleaned.name().to_owned();
    assert!(cleaned.url().ends_with(&name));
    let migrated: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(cleaned.pool())
        .await
        .unwrap();
    assert!(migrated >= 1);
    assert!(database_exists(&admin, &name).await);
    cleaned.cleanup().await.unwrap();
    assert!(!database_exists(&admin, &name).await);

    let forgotten = TestDatabase::create().await.unwrap();
    let name = forgotten.name().to_owned();
    assert!(database_exists(&admin, &name).await);
    drop(forgotten);
    assert!(
        !database_exists(&admin, &name).await,
        "Drop removes a database cleanup was not called for"
    );
    observer.cleanup().await.unwrap();
}
