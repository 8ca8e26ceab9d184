//! App isolation: a token presented to another app never resolves there, and one issuer
//! configured in two apps yields distinct users per app.

use alter_core::IdpKind;
use alter_idp_sim::TenantKind;
use alter_jwt_verifier::refusal_of;
use alter_proto::identity::v1::RefusalReason;
use tonic::Code;

use crate::support::{Harness, assert_refused, mappings};

#[tokio::test]
async fn app_a_token_never_resolves_in_app_b() {
    let h = Harness::start().await;
    let a = h.app("tenant-a", TenantKind::Auth0, mappings()).await;
    let b = h.app("tenant-b", TenantKind::Auth0, mappings()).await;
    let token = h.mint(&a, "auth0|shared", &[]);
    let in_a = h.verify(a.id, &token).await.expect("A's token in A");
    // The answer cached for A must not leak into B: B's IDP does not publish A's key.
    let status = h
        .verify(b.id, &token)
        .await
        .expect_err("A's token refused in B");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        refusal_of(&status).map(|d| d.reason()),
        Some(RefusalReason::UnknownKid)
    );
    // Even signed by a key B trusts, A's issuer is not B's.
    let forged = h.mint(
        &b,
        "auth0|shared",
        &[("iss", serde_json::json!(a.idp.issuer))],
    );
    assert_refused(
        h.verify(b.id, &forged).await,
        Code::Unauthenticated,
        RefusalReason::WrongIssuer,
    );

    // The same issuer configured in a third app: same token, a distinct user of that app.
    let c = h
        .app_with_idp(
            "tenant-a",
            IdpKind::Auth0,
            &a.idp.issuer,
            &a.idp.jwks_uri,
            mappings(),
            None,
        )
        .await;
    let in_c = h
        .verify(c.id, &token)
        .await
        .expect("A's issuer trusted by C");
    let (ua, uc) = (in_a.user.unwrap(), in_c.user.unwrap());
    assert_eq!(ua.external_id, uc.external_id);
    assert_ne!(ua.id, uc.id, "users are per app");
    h.stop().await;
}
