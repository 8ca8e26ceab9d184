//! Sign-in settings (R-CFG-10) and the state of sign-ins (R-OIDC-01): the settings and the
//! sealed client secret change together and go together; a flow and a result code are taken
//! once (of concurrent takes exactly one wins), only within their app; a Wallet session stays
//! until taken; expired rows are purged.

use std::sync::Arc;

use alter_core::{AppId, IdpKind};
use alter_store::{
    SealedSecret, SecretPurpose, SessionKind, SignInFlow, SignInPurpose, SignInSession,
    SignInSettings, StoreError, no_effects,
};
use chrono::{Duration, Utc};

use crate::support::{TestStore, contract_tests, effect};

fn sealed(byte: u8) -> SealedSecret {
    SealedSecret {
        ciphertext: vec![byte; 40],
        nonce: vec![byte; 12],
        key_id: format!("key-{byte}"),
    }
}

fn settings() -> SignInSettings {
    SignInSettings {
        client_id: "0oa-client".into(),
        return_urls: vec![
            "https://app.example.com/signed-in".into(),
            "http://127.0.0.1:3000/cb".into(),
        ],
        scopes: vec!["profile".into(), "email".into()],
    }
}

async fn r_cfg_10_sign_in_settings_and_the_client_secret_change_and_go_together(t: TestStore) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let set_effect = effect(app, alter_store::OutboxTopic::Invalidation);
    let set = t
        .store
        .set_sign_in_with(app, idp, Some(&settings()), Some(&sealed(1)), &|_: &_| {
            vec![set_effect.clone()]
        })
        .await
        .unwrap();
    assert_eq!(set.sign_in, Some(settings()));
    assert_eq!(t.outbox_rows(&set_effect).await, 1, "with the change");
    let secret = |t: &TestStore| {
        let store = t.store.clone();
        async move {
            store
                .get_secret(app, idp, SecretPurpose::ClientSecret)
                .await
                .unwrap()
                .map(|s| s.sealed)
        }
    };
    assert_eq!(secret(&t).await, Some(sealed(1)));

    // New settings without a secret keep the stored one; with one, replace it.
    let mut changed = settings();
    changed.return_urls.truncate(1);
    let kept = t
        .store
        .set_sign_in(app, idp, Some(&changed), None)
        .await
        .unwrap();
    assert_eq!(kept.sign_in, Some(changed.clone()));
    assert_eq!(secret(&t).await, Some(sealed(1)));
    t.store
        .set_sign_in(app, idp, Some(&changed), Some(&sealed(2)))
        .await
        .unwrap();
    assert_eq!(secret(&t).await, Some(sealed(2)));
    assert_eq!(
        t.store.get_idp(app, idp).await.unwrap().unwrap().sign_in,
        Some(changed)
    );

    let cleared = t
        .store
        .set_sign_in_with(app, idp, None, None, &no_effects)
        .await
        .unwrap();
    assert_eq!(cleared.sign_in, None);
    assert_eq!(
        secret(&t).await,
        None,
        "disabling sign-in forgets the secret"
    );

    let other = t.seed_app("other").await;
    let err = t
        .store
        .set_sign_in(other, idp, Some(&settings()), Some(&sealed(3)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    t.finish().await;
}

fn flow(app: AppId, idp: alter_core::IdpId, state: u8, expires_in: Duration) -> SignInFlow {
    SignInFlow {
        state_digest: vec![state; 32],
        browser_digest: vec![state.wrapping_add(100); 32],
        app_id: app,
        idp_id: idp,
        purpose: SignInPurpose::App,
        return_url: "https://app.example.com/signed-in".into(),
        app_state: Some("xyz".into()),
        sealed: sealed(state),
        expires_at: alter_store::audit_chain::to_stored_precision(Utc::now() + expires_in),
    }
}

async fn r_oidc_01_a_sign_in_flow_is_taken_once_and_only_by_its_app(t: TestStore) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let stored = flow(app, idp, 1, Duration::minutes(10));
    t.store.create_sign_in_flow(&stored).await.unwrap();
    let again = t.store.create_sign_in_flow(&stored).await.unwrap_err();
    assert!(
        matches!(again, StoreError::AlreadyExists { .. }),
        "{again:?}"
    );

    let other = t.seed_app("other").await;
    assert_eq!(
        t.store
            .take_sign_in_flow(other, &stored.state_digest)
            .await
            .unwrap(),
        None,
        "another app's state is not found"
    );
    let store = t.store.clone();
    let takes = (0..8).map(|_| {
        let store = store.clone();
        let digest = stored.state_digest.clone();
        tokio::spawn(async move { store.take_sign_in_flow(app, &digest).await.unwrap() })
    });
    let mut taken = Vec::new();
    for take in takes {
        if let Some(flow) = take.await.unwrap() {
            taken.push(flow);
        }
    }
    assert_eq!(
        taken,
        vec![stored.clone()],
        "exactly one take gets the flow, intact"
    );

    let mut wallet = flow(app, idp, 2, Duration::minutes(10));
    wallet.purpose = SignInPurpose::Wallet;
    wallet.app_state = None;
    t.store.create_sign_in_flow(&wallet).await.unwrap();
    assert_eq!(
        t.store
            .take_sign_in_flow(app, &wallet.state_digest)
            .await
            .unwrap(),
        Some(wallet)
    );

    let mut unknown_idp = flow(app, alter_core::IdpId::new(), 3, Duration::minutes(10));
    unknown_idp.idp_id = alter_core::IdpId::new();
    let err = t.store.create_sign_in_flow(&unknown_idp).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    t.finish().await;
}

async fn r_oidc_01_a_result_code_is_taken_once_and_a_wallet_session_stays_until_taken(
    t: TestStore,
) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let user = t.seed_user(app, idp, "00u1").await;
    let session = |digest: u8, kind| SignInSession {
        digest: vec![digest; 32],
        kind,
        app_id: app,
        idp_id: idp,
        user_id: user,
        return_url: "https://app.example.com/signed-in".into(),
        sealed: sealed(digest),
        expires_at: alter_store::audit_chain::to_stored_precision(
            Utc::now() + Duration::minutes(1),
        ),
    };
    let result = session(1, SessionKind::Result);
    t.store.create_sign_in_session(&result).await.unwrap();
    // The kind is part of the key: a result code is no Wallet session.
    assert_eq!(
        t.store
            .get_sign_in_session(app, SessionKind::Wallet, &result.digest)
            .await
            .unwrap(),
        None
    );
    let store: Arc<dyn alter_store::Store> = t.store.clone();
    let (a, b) = tokio::join!(
        store.take_sign_in_session(app, SessionKind::Result, &result.digest),
        store.take_sign_in_session(app, SessionKind::Result, &result.digest),
    );
    let winners: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(
        winners,
        vec![result.clone()],
        "a result code is redeemed once"
    );

    let wallet = session(2, SessionKind::Wallet);
    t.store.create_sign_in_session(&wallet).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            t.store
                .get_sign_in_session(app, SessionKind::Wallet, &wallet.digest)
                .await
                .unwrap(),
            Some(wallet.clone())
        );
    }
    let other = t.seed_app("other").await;
    assert_eq!(
        t.store
            .take_sign_in_session(other, SessionKind::Wallet, &wallet.digest)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        t.store
            .take_sign_in_session(app, SessionKind::Wallet, &wallet.digest)
            .await
            .unwrap(),
        Some(wallet.clone())
    );
    assert_eq!(
        t.store
            .get_sign_in_session(app, SessionKind::Wallet, &wallet.digest)
            .await
            .unwrap(),
        None,
        "logged out"
    );
    t.finish().await;
}

async fn r_oidc_01_expired_flows_and_sessions_are_purged(t: TestStore) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Auth0).await;
    let user = t.seed_user(app, idp, "auth0|1").await;
    t.store
        .create_sign_in_flow(&flow(app, idp, 1, Duration::minutes(-1)))
        .await
        .unwrap();
    let live = flow(app, idp, 2, Duration::minutes(10));
    t.store.create_sign_in_flow(&live).await.unwrap();
    t.store
        .create_sign_in_session(&SignInSession {
            digest: vec![9; 32],
            kind: SessionKind::Result,
            app_id: app,
            idp_id: idp,
            user_id: user,
            return_url: "https://app.example.com/".into(),
            sealed: sealed(9),
            expires_at: Utc::now() - Duration::seconds(5),
        })
        .await
        .unwrap();
    assert_eq!(t.store.purge_expired_sign_ins(Utc::now()).await.unwrap(), 2);
    assert_eq!(t.store.purge_expired_sign_ins(Utc::now()).await.unwrap(), 0);
    assert_eq!(
        t.store
            .take_sign_in_flow(app, &live.state_digest)
            .await
            .unwrap(),
        Some(live),
        "the live flow stays"
    );
    t.finish().await;
}

contract_tests!(
    r_cfg_10_sign_in_settings_and_the_client_secret_change_and_go_together,
    r_oidc_01_a_sign_in_flow_is_taken_once_and_only_by_its_app,
    r_oidc_01_a_result_code_is_taken_once_and_a_wallet_session_stays_until_taken,
    r_oidc_01_expired_flows_and_sessions_are_purged,
);
