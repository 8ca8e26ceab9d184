//! Apps, identity providers (R-CFG-01, R-CFG-08, R-CFG-10) and sealed secrets (R-CFG-11).

use alter_core::{AppId, ClaimMappings, IdpId, IdpKind};
use alter_store::{SealedSecret, SecretPurpose, SignInSettings, StoreError};

use crate::support::{TestStore, contract_tests, new_idp};

async fn r_cfg_01_a_second_idp_for_the_same_app_already_exists(t: TestStore) {
    let (app, first) = t.app_with_idp(IdpKind::Auth0).await;

    let err = t
        .store
        .create_idp(app, &new_idp(IdpKind::Okta))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    assert!(err.to_string().contains("at most one"), "{err}");
    // The first one is untouched.
    let stored = t.store.get_idp_for_app(app).await.unwrap().unwrap();
    assert_eq!((stored.id, stored.kind), (first, IdpKind::Auth0));

    // Another app can have its own.
    let other = t.store.create_app("other").await.unwrap();
    assert!(
        t.store
            .create_idp(other.id, &new_idp(IdpKind::Okta))
            .await
            .is_ok()
    );
    t.finish().await;
}

async fn creating_an_idp_for_a_missing_app_is_not_found(t: TestStore) {
    let err = t
        .store
        .create_idp(AppId::new(), &new_idp(IdpKind::Clerk))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    t.finish().await;
}

async fn idp_round_trips_every_field_and_is_found_by_id_alone_for_webhook_routing(t: TestStore) {
    let app = t.store.create_app("round trip").await.unwrap();
    let mut new = new_idp(IdpKind::Okta);
    new.claim_mappings = ClaimMappings {
        user_id_claim: "uid".into(),
        group_claim: Some("https://alter.dev/groups".into()),
        role_claim: Some("roles".into()),
        email_claim: Some("email".into()),
        display_name_claim: Some("name".into()),
        group_claim_stable_ids: true,
    };
    new.sign_in = Some(SignInSettings {
        client_id: "client".into(),
        return_urls: vec!["https://app.example.com/done".into()],
        scopes: vec!["profile".into()],
    });
    let created = t.store.create_idp(app.id, &new).await.unwrap();
    assert_eq!(created.claim_mappings, new.claim_mappings);
    assert_eq!(created.sign_in, new.sign_in);
    assert_eq!(created.claim_mappings_locked_at, None);

    let found = t.store.find_idp_by_id(created.id).await.unwrap().unwrap();
    assert_eq!(found, created);
    assert_eq!(found.app_id, app.id);
    assert_eq!(
        t.store.get_idp(app.id, created.id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(t.store.find_idp_by_id(IdpId::new()).await.unwrap(), None);

    let cleared = t
        .store
        .set_sign_in(app.id, created.id, None, None)
        .await
        .unwrap();
    assert_eq!(cleared.sign_in, None);
    t.finish().await;
}

async fn r_cfg_08_claim_mappings_lock_after_the_first_authentication(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    let mut mappings = ClaimMappings {
        group_claim: Some("groups".into()),
        ..ClaimMappings::default()
    };

    let updated = t
        .store
        .update_claim_mappings(app, idp, &mappings)
        .await
        .unwrap();
    assert_eq!(
        updated.claim_mappings.group_claim.as_deref(),
        Some("groups")
    );

    assert!(
        t.store.lock_claim_mappings(app, idp).await.unwrap(),
        "first lock locks"
    );
    assert!(
        !t.store.lock_claim_mappings(app, idp).await.unwrap(),
        "second lock is a no-op"
    );

    mappings.user_id_claim = "email".into();
    let err = t
        .store
        .update_claim_mappings(app, idp, &mappings)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    let stored = t.store.get_idp(app, idp).await.unwrap().unwrap();
    assert_eq!(stored.claim_mappings.user_id_claim, "sub");
    assert!(stored.claim_mappings_locked_at.is_some());

    let missing = t
        .store
        .update_claim_mappings(app, IdpId::new(), &mappings)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );
    t.finish().await;
}

async fn r_cfg_11_sealed_secrets_are_stored_per_purpose_rotated_and_deleted(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let first = SealedSecret {
        ciphertext: vec![1, 2, 3],
        nonce: vec![9; 12],
        key_id: "k1".into(),
    };
    let second = SealedSecret {
        ciphertext: vec![4, 5],
        nonce: vec![8; 12],
        key_id: "k2".into(),
    };

    t.store
        .put_secret(app, idp, SecretPurpose::WebhookSecret, &first)
        .await
        .unwrap();
    assert_eq!(
        t.store
            .get_secret(app, idp, SecretPurpose::WebhookSecret)
            .await
            .unwrap()
            .unwrap()
            .sealed,
        first
    );
    assert_eq!(
        t.store
            .get_secret(app, idp, SecretPurpose::ClientSecret)
            .await
            .unwrap(),
        None
    );

    t.store
        .put_secret(app, idp, SecretPurpose::WebhookSecret, &second)
        .await
        .unwrap();
    assert_eq!(
        t.store
            .get_secret(app, idp, SecretPurpose::WebhookSecret)
            .await
            .unwrap()
            .unwrap()
            .sealed,
        second
    );
    assert!(
        !format!("{second:?}").contains("[4, 5]"),
        "Debug must not print ciphertext"
    );

    assert!(
        t.store
            .delete_secret(app, idp, SecretPurpose::WebhookSecret)
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .delete_secret(app, idp, SecretPurpose::WebhookSecret)
            .await
            .unwrap()
    );
    assert_eq!(
        t.store
            .get_secret(app, idp, SecretPurpose::WebhookSecret)
            .await
            .unwrap(),
        None
    );
    t.finish().await;
}

async fn app_names_are_validated_and_apps_page_in_id_order(t: TestStore) {
    let err = t.store.create_app("").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid(ref e) if e.field == "name"),
        "{err:?}"
    );
    let a = t.store.create_app("a").await.unwrap();
    let b = t.store.create_app("b").await.unwrap();
    let c = t.store.create_app("c").await.unwrap();
    let first = t.store.list_apps(None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    let rest = t.store.list_apps(Some(b.id), 2).await.unwrap();
    assert_eq!(rest.iter().map(|x| x.id).collect::<Vec<_>>(), vec![c.id]);
    assert_eq!(t.store.get_app(a.id).await.unwrap(), Some(a));
    t.finish().await;
}

async fn deleting_an_idp_frees_the_app_for_a_new_one_until_users_signed_in(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    // Another app cannot delete it: app isolation.
    let other = t.store.create_app("other").await.unwrap();
    let err = t.store.delete_idp(other.id, idp).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    t.store.delete_idp(app, idp).await.unwrap();
    assert!(t.store.get_idp_for_app(app).await.unwrap().is_none());
    let err = t.store.delete_idp(app, idp).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");

    // R-CFG-01 allows a new one once the old one is gone; once a user exists it stays.
    let second = t
        .store
        .create_idp(app, &new_idp(IdpKind::Clerk))
        .await
        .unwrap();
    t.user(app, second.id, "user_1").await;
    let err = t.store.delete_idp(app, second.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("signed in"), "{err}");
    assert!(t.store.get_idp_for_app(app).await.unwrap().is_some());
    t.finish().await;
}

contract_tests!(
    r_cfg_01_a_second_idp_for_the_same_app_already_exists,
    creating_an_idp_for_a_missing_app_is_not_found,
    idp_round_trips_every_field_and_is_found_by_id_alone_for_webhook_routing,
    r_cfg_08_claim_mappings_lock_after_the_first_authentication,
    r_cfg_11_sealed_secrets_are_stored_per_purpose_rotated_and_deleted,
    app_names_are_validated_and_apps_page_in_id_order,
    deleting_an_idp_frees_the_app_for_a_new_one_until_users_signed_in,
);
