//! R-JWT-05: JWKS caching, rotation without restart, the unknown-kid rate limit,
//! single-flight fetches and serving cached keys while the JWKS endpoint is down.

use std::time::Duration;

use alter_idp_sim::{Fault, TenantKind, TokenAlg};
use alter_providers::Refusal;

use crate::Env;

#[tokio::test]
async fn r_jwt_05_keys_are_cached_after_one_fetch() {
    let env = Env::auth0().await;
    for _ in 0..5 {
        let token = env.mint(&env.spec());
        env.verify(&token).await.unwrap();
    }
    assert_eq!(env.jwks_fetches(), 1);
}

#[tokio::test]
async fn r_jwt_05_unknown_kid_refetches_once_so_rotation_works_without_restart() {
    let env = Env::auth0().await;
    let old = env.mint(&env.spec());
    env.verify(&old).await.unwrap();
    assert_eq!(env.jwks_fetches(), 1);

    let new_kid = env.sim.rotate_keys(&env.tenant, TokenAlg::RS256).unwrap();
    let new = env.mint(&env.spec());
    let verified = env.verify(&new).await.unwrap();
    assert_eq!(verified.kid, new_kid);
    assert_eq!(env.jwks_fetches(), 2);
    // The previous key is still published and cached: old tokens keep working, no fetch.
    env.verify(&old).await.unwrap();
    env.verify(&new).await.unwrap();
    assert_eq!(env.jwks_fetches(), 2);
    assert!(env.cache.cached_kids(env.idp).contains(&new_kid));
}

#[tokio::test]
async fn r_jwt_05_flood_of_random_kids_causes_at_most_one_refetch_per_interval() {
    let env = Env::auth0().await;
    env.verify(&env.mint(&env.spec())).await.unwrap();
    env.sim.reset_counters(&env.tenant).unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let mut spec = env.spec();
        spec.kid = Some(format!("random-{i}"));
        let token = env.mint(&spec);
        let (cache, idp, uri, expect) = (
            env.cache.clone(),
            env.idp,
            env.jwks_uri.clone(),
            env.expect(),
        );
        tasks.spawn(async move {
            alter_providers::verify_token(&token, &expect, idp, &uri, &cache).await
        });
    }
    let mut refused = 0;
    while let Some(result) = tasks.join_next().await {
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.reason, Refusal::UnknownKid, "{err}");
        refused += 1;
    }
    assert_eq!(refused, 50);
    assert_eq!(env.jwks_fetches(), 1);
    // Valid tokens are unaffected by the flood.
    env.verify(&env.mint(&env.spec())).await.unwrap();
    assert_eq!(env.jwks_fetches(), 1);
}

#[tokio::test]
async fn r_jwt_05_without_an_interval_each_unknown_kid_refetches() {
    // The control for the flood test: the limiter, not luck, bounds the fetches.
    let env = Env::start(TenantKind::Auth0, Duration::ZERO).await;
    env.verify(&env.mint(&env.spec())).await.unwrap();
    for i in 0..3 {
        let mut spec = env.spec();
        spec.kid = Some(format!("random-{i}"));
        let err = env.verify(&env.mint(&spec)).await.unwrap_err();
        assert_eq!(err.reason, Refusal::UnknownKid);
    }
    assert_eq!(env.jwks_fetches(), 4);
}

#[tokio::test]
async fn r_jwt_05_concurrent_cold_misses_share_one_fetch() {
    let env = Env::start(TenantKind::Okta, Duration::from_secs(60)).await;
    let token = env.mint(&env.spec());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (cache, idp, uri, expect, token) = (
            env.cache.clone(),
            env.idp,
            env.jwks_uri.clone(),
            env.expect(),
            token.clone(),
        );
        tasks.spawn(async move {
            alter_providers::verify_token(&token, &expect, idp, &uri, &cache).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(env.jwks_fetches(), 1);
}

#[tokio::test]
async fn r_jwt_05_cached_keys_keep_working_while_the_jwks_endpoint_is_down() {
    let env = Env::auth0().await;
    env.verify(&env.mint(&env.spec())).await.unwrap();
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: true })
        .unwrap();

    env.verify(&env.mint(&env.spec())).await.unwrap();

    let mut spec = env.spec();
    spec.kid = Some("not-published".into());
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::UnknownKid, "{err}");
    assert!(err.message.contains("could not be fetched"), "{err}");
    assert!(err.message.contains("503"), "{err}");
    assert_eq!(env.jwks_fetches(), 2);

    // Still serving, and the refused kid did not unlock more fetches.
    env.verify(&env.mint(&env.spec())).await.unwrap();
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::UnknownKid);
    assert_eq!(env.jwks_fetches(), 2);
}

#[tokio::test]
async fn r_jwt_05_jwks_down_on_first_use_refuses_without_hammering() {
    let env = Env::auth0().await;
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: true })
        .unwrap();
    let token = env.mint(&env.spec());
    for _ in 0..5 {
        let err = env.verify(&token).await.unwrap_err();
        assert_eq!(err.reason, Refusal::UnknownKid, "{err}");
    }
    assert_eq!(env.jwks_fetches(), 1);
}

#[tokio::test]
async fn r_jwt_05_forget_drops_the_idps_keys() {
    let env = Env::auth0().await;
    let token = env.mint(&env.spec());
    env.verify(&token).await.unwrap();
    assert_eq!(env.cache.cached_kids(env.idp).len(), 1);
    env.cache.forget(env.idp);
    assert!(env.cache.cached_kids(env.idp).is_empty());
    env.verify(&token).await.unwrap();
    assert_eq!(env.jwks_fetches(), 2);
}
