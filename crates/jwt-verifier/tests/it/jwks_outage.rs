//! R-JWT-11: an outage of the IDP's JWKS endpoint (idp-sim's `jwks_down` fault) is never
//! reported as a bad token. Cached keys serve for the stale window; past it, or when no key
//! was ever fetched, Verify answers UNAVAILABLE with `REFUSAL_REASON_IDP_UNAVAILABLE` and a
//! message naming the IDP and the failure. The window is crossed by moving the JWKS cache's
//! clock, not by sleeping.

use std::sync::Arc;
use std::time::Duration;

use alter_idp_sim::{Fault, TenantKind, TokenSpec};
use alter_jwt_verifier::{Settings, Verifier};
use alter_proto::identity::v1::RefusalReason;
use alter_providers::jwks::MAX_JWKS_TTL;
use alter_providers::{JwksCache, JwksSettings, ManualClock};
use alter_store::Store;
use serde_json::json;
use tonic::Code;

use crate::support::{AUDIENCE, Harness, assert_refused, mappings};

#[tokio::test]
async fn r_jwt_11_jwks_outage_on_first_use_is_unavailable_naming_the_idp_and_the_failure() {
    let h = Harness::start().await;
    let app = h.app("down-first", TenantKind::Auth0, mappings()).await;
    h.sim
        .inject_fault("down-first", Fault::JwksDown { down: true })
        .expect("fault");
    let token = h.mint(&app, "auth0|1", &[]);
    let status = assert_refused(
        h.verify(app.id, &token).await,
        Code::Unavailable,
        RefusalReason::IdpUnavailable,
    );
    for fragment in [
        app.idp.issuer.as_str(),
        app.idp.jwks_uri.as_str(),
        "HTTP 503",
        "not a bad token",
    ] {
        assert!(
            status.message().contains(fragment),
            "{fragment:?} not in {:?}",
            status.message()
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_11_cached_keys_keep_verifying_while_the_jwks_is_down_and_bad_kids_stay_unknown() {
    let h = Harness::start().await;
    let app = h.app("down-later", TenantKind::Okta, mappings()).await;
    h.verify(app.id, &h.mint(&app, "00u1", &[]))
        .await
        .expect("keys fetched");
    // While the JWKS answers normally, a kid it does not publish is a bad token.
    let unknown = TokenSpec {
        kid: Some("never-published".to_owned()),
        auth_server: app.auth_server.clone(),
        ..TokenSpec::new("00u1", json!(AUDIENCE))
    };
    assert_refused(
        h.verify(app.id, &h.mint_spec(&app, unknown)).await,
        Code::Unauthenticated,
        RefusalReason::UnknownKid,
    );

    h.sim
        .inject_fault("down-later", Fault::JwksDown { down: true })
        .expect("fault");
    // A token never seen before (so not answered from the token cache) still verifies.
    let answer = h
        .verify(app.id, &h.mint(&app, "00u2", &[]))
        .await
        .expect("cached keys serve while the JWKS is down");
    assert_eq!(answer.user.expect("user").external_id, "00u2");
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_11_past_the_stale_window_verify_is_unavailable_until_the_jwks_answers() {
    let h = Harness::start().await;
    let app = h.app("window", TenantKind::Clerk, mappings()).await;
    // The verifier in-process, with the JWKS cache on a clock the test moves.
    let settings = Settings::default();
    let window = Duration::from_secs(settings.jwks_max_stale_secs);
    let clock = Arc::new(ManualClock::new());
    let jwks = JwksCache::with_clock(
        alter_providers::http_client().expect("http client"),
        JwksSettings {
            max_stale: window,
            ..JwksSettings::default()
        },
        clock.clone(),
    );
    let store: Arc<dyn Store> = Arc::new(h.store());
    let verifier = Verifier::new(&settings, store, jwks);
    let app_id = app.id.to_string();
    let verify = |sub: &str| {
        let token = h.mint(&app, sub, &[]);
        let verifier = &verifier;
        let app_id = app_id.clone();
        async move { verifier.verify(&app_id, &token).await }
    };

    verify("user_1").await.expect("keys fetched");
    h.sim
        .inject_fault("window", Fault::JwksDown { down: true })
        .expect("fault");
    clock.advance(window);
    verify("user_1")
        .await
        .expect("24 h into the outage, within the window: still verifies");

    // Freshness lasts at most MAX_JWKS_TTL; past it plus the window, keys are not trusted.
    clock.advance(MAX_JWKS_TTL + Duration::from_secs(1));
    let refused = verify("user_1").await.map_err(tonic::Status::from);
    let status = assert_refused(refused, Code::Unavailable, RefusalReason::IdpUnavailable);
    for fragment in [
        app.idp.issuer.as_str(),
        "HTTP 503",
        "stale window of 86400 s",
    ] {
        assert!(
            status.message().contains(fragment),
            "{fragment:?} not in {:?}",
            status.message()
        );
    }

    // The provider recovers: after the retry interval the keys are fetched again.
    h.sim
        .inject_fault("window", Fault::JwksDown { down: false })
        .expect("fault cleared");
    clock.advance(Duration::from_secs(60));
    verify("user_1")
        .await
        .expect("verifies once the JWKS answers");
    h.stop().await;
}
