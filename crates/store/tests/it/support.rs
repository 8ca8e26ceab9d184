//! The small kit every test sets up through.

use std::sync::Arc;

use alter_core::{
    AppId, ClaimMappings, ExternalGroupId, ExternalUserId, GroupId, IdpId, IdpKind, UserId,
};
use alter_store::testing::TestDatabase;
use alter_store::{GroupUpsert, NewIdp, Store, UserUpsert};

/// A fresh database and the store over it.
pub struct TestStore {
    pub db: TestDatabase,
    pub store: Arc<dyn Store>,
}

impl TestStore {
    pub async fn new() -> Self {
        let db = TestDatabase::create()
            .await
            .expect("create test database (is Postgres up? scripts/services.sh up)");
        let store: Arc<dyn Store> = Arc::new(db.store());
        Self { db, store }
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
        let Self { db, store } = self;
        drop(store);
        db.cleanup().await.expect("drop test database");
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

pub fn ext_user(id: &str) -> ExternalUserId {
    ExternalUserId::parse("sub", id).expect("external user id")
}

pub fn ext_group(id: &str) -> ExternalGroupId {
    ExternalGroupId::parse("group", id).expect("external group id")
}
