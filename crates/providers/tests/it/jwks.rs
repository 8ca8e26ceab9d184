//! R-JWT-05: JWKS caching, rotation without restart, the unknown-kid rate limit,
//! single-flight fetches and serving cached keys while the JWKS endpoint is down; R-JWT-11:
//! for a bounded window only, and an outage is never reported as a bad token. The cache's
//! clock is moved by hand, so no test sleeps through a window.

use std::time::Duration;

use alter_idp_sim::{Fault, TenantKind, TokenAlg};
use alter_providers::jwks::MAX_JWKS_TTL;
use alter_providers::{DEFAULT_MAX_STALE, JwksSettings, Refusal};

use crate::{Env, settings};

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
async fn r_jwt_05_r_jwt_11_cached_keys_keep_working_while_the_jwks_endpoint_is_down() {
    let env = Env::auth0().await;
    env.verify(&env.mint(&env.spec())).await.unwrap();
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: true })
        .unwrap();

    env.verify(&env.mint(&env.spec())).await.unwrap();

    // A kid that is not cached cannot be looked up while the JWKS is down: that is the
    // provider's outage, not a verdict on the token (it may be a newly rotated key).
    let mut spec = env.spec();
    spec.kid = Some("not-published".into());
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::IdpUnavailable, "{err}");
    assert!(err.message.contains("could not be fetched"), "{err}");
    assert!(err.message.contains("HTTP 503"), "{err}");
    assert!(err.message.contains("not-published"), "{err}");
    assert_eq!(env.jwks_fetches(), 2);

    // Still serving, and the refused kid did not unlock more fetches.
    env.verify(&env.mint(&env.spec())).await.unwrap();
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::IdpUnavailable);
    assert_eq!(env.jwks_fetches(), 2);

    // Once the JWKS answers again, the same kid is what it is: unknown.
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: false })
        .unwrap();
    env.clock.advance(Duration::from_secs(60));
    let err = env.verify(&env.mint(&spec)).await.unwrap_err();
    assert_eq!(err.reason, Refusal::UnknownKid, "{err}");
    assert_eq!(env.jwks_fetches(), 3);
}

#[tokio::test]
async fn r_jwt_05_r_jwt_11_jwks_down_on_first_use_is_idp_unavailable_without_hammering() {
    let env = Env::auth0().await;
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: true })
        .unwrap();
    let token = env.mint(&env.spec());
    for _ in 0..5 {
        let err = env.verify(&token).await.unwrap_err();
        assert_eq!(err.reason, Refusal::IdpUnavailable, "{err}");
        assert!(err.message.contains(&env.issuer), "names the IDP: {err}");
        assert!(err.message.contains(&env.jwks_uri), "names the URL: {err}");
        assert!(err.message.contains("HTTP 503"), "names the failure: {err}");
        assert!(err.message.contains("ever fetched"), "{err}");
    }
    assert_eq!(env.jwks_fetches(), 1);
    // One retry per interval; when the provider is back, the same token verifies.
    env.clock.advance(Duration::from_secs(60));
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: false })
        .unwrap();
    env.verify(&token).await.unwrap();
    assert_eq!(env.jwks_fetches(), 2);
}

#[tokio::test]
async fn r_jwt_11_cached_keys_serve_for_the_24_hour_window_then_the_idp_is_unavailable() {
    let env = Env::auth0().await;
    assert_eq!(DEFAULT_MAX_STALE, Duration::from_secs(24 * 60 * 60));
    env.verify(&env.mint(&env.spec())).await.unwrap();
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: true })
        .unwrap();

    // 24 h later the keys are long past their freshness but within the stale window.
    env.clock.advance(DEFAULT_MAX_STALE);
    env.verify(&env.mint(&env.spec())).await.unwrap();

    // Past freshness (at most MAX_JWKS_TTL) plus the window: no longer trusted.
    env.clock.advance(MAX_JWKS_TTL + Duration::from_secs(1));
    let err = env.verify(&env.mint(&env.spec())).await.unwrap_err();
    assert_eq!(err.reason, Refusal::IdpUnavailable, "{err}");
    assert!(err.message.contains(&env.issuer), "{err}");
    assert!(err.message.contains("HTTP 503"), "{err}");
    assert!(
        err.message.contains("past their stale window of 86400 s"),
        "{err}"
    );

    // The provider comes back: the next attempt (after the retry interval) refetches.
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: false })
        .unwrap();
    env.clock.advance(Duration::from_secs(60));
    env.verify(&env.mint(&env.spec())).await.unwrap();
}

#[tokio::test]
async fn r_jwt_11_the_stale_window_is_configurable() {
    let window = Duration::from_secs(600);
    let env = Env::with_settings(
        TenantKind::Oidc,
        JwksSettings {
            max_stale: window,
            ..settings(Duration::from_secs(10))
        },
    )
    .await;
    env.verify(&env.mint(&env.spec())).await.unwrap();
    env.sim
        .inject_fault(&env.tenant, Fault::JwksDown { down: true })
        .unwrap();
    // The simulated custom OIDC provider says max-age=300: fresh for 5 minutes, then
    // served for the 10-minute window.
    env.clock
        .advance(Duration::from_secs(300) + window - Duration::from_secs(1));
    env.verify(&env.mint(&env.spec())).await.unwrap();
    env.clock.advance(Duration::from_secs(2));
    let err = env.verify(&env.mint(&env.spec())).await.unwrap_err();
    assert_eq!(err.reason, Refusal::IdpUnavailable, "{err}");
    assert!(err.message.contains("stale window of 600 s"), "{err}");
}

#[tokio::test]
async fn r_jwt_11_an_unreachable_or_slow_jwks_is_idp_unavailable_naming_the_failure() {
    let env = Env::auth0().await;
    let token = env.mint(&env.spec());

    // Nothing listens on the port: the connection is refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nowhere = format!("http://127.0.0.1:{closed}/.well-known/jwks.json");
    let err = alter_providers::verify_token(&token, &env.expect(), env.idp, &nowhere, &env.cache)
        .await
        .unwrap_err();
    assert_eq!(err.reason, Refusal::IdpUnavailable, "{err}");
    assert!(err.message.contains(&nowhere), "{err}");
    assert!(err.message.contains("connection"), "{err}");

    // The provider answers too slowly for the fetch timeout.
    let slow = Env::with_settings(
        TenantKind::Auth0,
        JwksSettings {
            fetch_timeout: Duration::from_millis(200),
            ..settings(Duration::from_secs(10))
        },
    )
    .await;
    slow.sim
        .inject_fault(&slow.tenant, Fault::Slow { delay_ms: 2_000 })
        .unwrap();
    let err = slow.verify(&slow.mint(&slow.spec())).await.unwrap_err();
    assert_eq!(err.reason, Refusal::IdpUnavailable, "{err}");
    assert!(err.message.contains("timed out"), "{err}");
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
