//! Webhook settings (R-HOOK-01) and the delivery log (R-HOOK-08): enabling writes its effects
//! with the change, a rotation keeps the previous secret valid until its time and never
//! changes the secret's form, disabling forgets both; deliveries are listed newest first,
//! one app's only, paged by position.

use alter_core::{EventId, IdpId, IdpKind};
use alter_store::{
    DeliveryOutcome, DeliveryRecord, OutboxTopic, SealedSecret, StoreError, StoredWebhookSecret,
    WebhookSettings, no_effects,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::support::{TestStore, contract_tests, effect};

fn hashed(byte: u8) -> StoredWebhookSecret {
    StoredWebhookSecret::Hash(vec![byte; 32])
}

fn sealed(byte: u8) -> StoredWebhookSecret {
    StoredWebhookSecret::Sealed(SealedSecret {
        ciphertext: vec![byte; 40],
        nonce: vec![byte; 12],
        key_id: format!("key-{byte}"),
    })
}

async fn r_hook_01_a_rotation_keeps_the_previous_secret_until_its_time_and_disabling_forgets_both(
    t: TestStore,
) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Auth0).await;
    assert_eq!(t.store.get_webhook_settings(app, idp).await.unwrap(), None);

    let enabled_effect = effect(app, OutboxTopic::Invalidation);
    let enabled = t
        .store
        .put_webhook_settings_with(app, idp, &hashed(1), None, &|_: &WebhookSettings| {
            vec![enabled_effect.clone()]
        })
        .await
        .unwrap();
    assert!(enabled.enabled);
    assert_eq!(
        (&enabled.current, &enabled.previous, enabled.rotated_at),
        (&hashed(1), &None, None)
    );
    assert_eq!(t.outbox_rows(&enabled_effect).await, 1, "with the change");

    let until = Utc::now() + Duration::hours(1);
    let rotated = t
        .store
        .put_webhook_settings_with(app, idp, &hashed(2), Some((&hashed(1), until)), &no_effects)
        .await
        .unwrap();
    assert_eq!(
        (&rotated.current, &rotated.previous),
        (&hashed(2), &Some(hashed(1)))
    );
    assert_eq!(
        rotated.enabled_at, enabled.enabled_at,
        "a rotation keeps when webhooks were enabled"
    );
    assert!(rotated.rotated_at.is_some());
    let kept_until = rotated.previous_valid_until.unwrap();
    assert!((kept_until - until).abs() < Duration::milliseconds(1));
    let now = Utc::now();
    assert_eq!(rotated.valid_secrets(now), vec![&hashed(2), &hashed(1)]);
    assert_eq!(
        rotated.valid_secrets(kept_until + Duration::seconds(1)),
        vec![&hashed(2)],
        "the previous secret ends at its time"
    );
    assert_eq!(
        t.store.get_webhook_settings(app, idp).await.unwrap(),
        Some(rotated.clone())
    );

    // A rotation never changes the form; the refused change writes nothing.
    let refused_effect = effect(app, OutboxTopic::Invalidation);
    let refused = t
        .store
        .put_webhook_settings_with(
            app,
            idp,
            &sealed(3),
            Some((&hashed(2), until)),
            &|_: &WebhookSettings| vec![refused_effect.clone()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Conflict { .. }),
        "{refused:?}"
    );
    assert_eq!(t.outbox_rows(&refused_effect).await, 0);
    assert_eq!(
        t.store.get_webhook_settings(app, idp).await.unwrap(),
        Some(rotated)
    );

    // Another app cannot set this IDP's settings, nor anyone an unknown IDP's.
    let other = t.seed_app("other").await;
    for (app, idp) in [(other, idp), (app, IdpId::new())] {
        let missing = t
            .store
            .put_webhook_settings_with(app, idp, &hashed(9), None, &|_: &WebhookSettings| {
                vec![refused_effect.clone()]
            })
            .await
            .unwrap_err();
        assert!(
            matches!(missing, StoreError::NotFound { .. }),
            "{missing:?}"
        );
    }
    assert_eq!(t.outbox_rows(&refused_effect).await, 0);
    assert!(
        !t.store
            .disable_webhooks_with(other, idp, &no_effects)
            .await
            .unwrap(),
        "not through another app"
    );

    let disabled_effect = effect(app, OutboxTopic::Invalidation);
    let effects = |_: &()| vec![disabled_effect.clone()];
    assert!(
        t.store
            .disable_webhooks_with(app, idp, &effects)
            .await
            .unwrap()
    );
    assert_eq!(t.store.get_webhook_settings(app, idp).await.unwrap(), None);
    assert!(
        !t.store
            .disable_webhooks_with(app, idp, &effects)
            .await
            .unwrap(),
        "already disabled"
    );
    assert_eq!(
        t.outbox_rows(&disabled_effect).await,
        1,
        "only the change that disabled them"
    );

    // Enabled again, with a sealed secret rotated to another sealed one: both come back.
    t.store
        .put_webhook_settings_with(app, idp, &sealed(4), None, &|_: &WebhookSettings| {
            Vec::new()
        })
        .await
        .unwrap();
    let resealed = t
        .store
        .put_webhook_settings_with(app, idp, &sealed(5), Some((&sealed(4), until)), &no_effects)
        .await
        .unwrap();
    assert_eq!(
        t.store.get_webhook_settings(app, idp).await.unwrap(),
        Some(resealed.clone())
    );
    assert_eq!(
        (resealed.current, resealed.previous),
        (sealed(5), Some(sealed(4)))
    );
    t.finish().await;
}

async fn r_hook_01_a_webhook_url_finds_its_identity_provider_and_settings(t: TestStore) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Clerk).await;
    let (found, settings) = t
        .store
        .find_webhook_endpoint(idp)
        .await
        .unwrap()
        .expect("the IDP");
    assert_eq!((found.id, found.app_id, settings), (idp, app, None));
    let enabled = t
        .store
        .put_webhook_settings_with(app, idp, &sealed(1), None, &|_: &WebhookSettings| {
            Vec::new()
        })
        .await
        .unwrap();
    let (_, settings) = t.store.find_webhook_endpoint(idp).await.unwrap().unwrap();
    assert_eq!(settings, Some(enabled));
    assert!(
        t.store
            .find_webhook_endpoint(IdpId::new())
            .await
            .unwrap()
            .is_none()
    );
    t.finish().await;
}

fn received(second: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
        + Duration::seconds(second)
        + Duration::microseconds(123_456)
}

fn record(second: i64, outcome: DeliveryOutcome) -> DeliveryRecord {
    DeliveryRecord {
        received_at: received(second),
        provider_event_id: Some(format!("evt_{second}")),
        event_type: Some("user.updated".to_owned()),
        event_id: (outcome == DeliveryOutcome::Accepted).then(EventId::new),
        outcome,
        reason: (outcome != DeliveryOutcome::Accepted).then(|| format!("reason {second}")),
    }
}

async fn r_hook_08_the_delivery_log_lists_an_apps_deliveries_newest_first_by_page(t: TestStore) {
    let (a, a_idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let (b, b_idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    t.store.record_deliveries(&[]).await.unwrap();
    let outcomes = DeliveryOutcome::ALL;
    // One batch mixing both apps, then a second one.
    let first: Vec<_> = (0..6)
        .map(|i| {
            let (app, idp) = if i == 2 { (b, b_idp) } else { (a, a_idp) };
            (app, idp, record(i, outcomes[i as usize % outcomes.len()]))
        })
        .collect();
    t.store.record_deliveries(&first).await.unwrap();
    let refused = DeliveryRecord {
        provider_event_id: None,
        event_type: None,
        ..record(6, DeliveryOutcome::Unauthorized)
    };
    t.store
        .record_deliveries(&[(a, a_idp, refused.clone())])
        .await
        .unwrap();

    let mut expected: Vec<DeliveryRecord> = first
        .iter()
        .filter(|(app, _, _)| *app == a)
        .map(|(_, _, r)| r.clone())
        .chain([refused])
        .collect();
    expected.reverse();

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = t.store.list_deliveries(a, before, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        before = page.last().map(|d| d.seq);
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2]);
    let listed: Vec<_> = pages.into_iter().flatten().collect();
    assert!(
        listed.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );
    assert!(listed.iter().all(|d| d.idp_id == a_idp));
    assert_eq!(
        listed.into_iter().map(|d| d.record).collect::<Vec<_>>(),
        expected,
        "every field as recorded, the other app's left out"
    );

    let of_b = t.store.list_deliveries(b, None, 0).await.unwrap();
    assert_eq!(of_b.len(), 1);
    assert_eq!((of_b[0].idp_id, &of_b[0].record), (b_idp, &first[2].2));
    t.finish().await;
}

contract_tests!(
    r_hook_01_a_rotation_keeps_the_previous_secret_until_its_time_and_disabling_forgets_both,
    r_hook_01_a_webhook_url_finds_its_identity_provider_and_settings,
    r_hook_08_the_delivery_log_lists_an_apps_deliveries_newest_first_by_page,
);
