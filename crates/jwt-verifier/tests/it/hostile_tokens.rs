//! Tokens a hostile or misconfigured IDP could sign: they verify cryptographically but must
//! not be taken at their word. A group claim past `jwt_verifier.max_group_claim_entries`
//! (R-JWT-07) and an `aud` array with non-string members (R-JWT-04, RFC 7519) are refused
//! as malformed, naming the claim, and nothing is written.

use alter_core::{ClaimMappings, ExternalUserId};
use alter_idp_sim::TenantKind;
use alter_proto::identity::v1::RefusalReason;
use alter_store::{GroupStore, UserStore};
use serde_json::{Value, json};
use tonic::Code;

use crate::support::{AUDIENCE, Harness, assert_refused};

fn with_groups() -> ClaimMappings {
    ClaimMappings {
        group_claim: Some("groups".to_owned()),
        group_claim_stable_ids: true,
        ..ClaimMappings::default()
    }
}

#[tokio::test]
async fn r_jwt_07_a_group_claim_of_5000_entries_is_refused_and_creates_no_group() {
    let h = Harness::start().await;
    let app = h.app("groups", TenantKind::Clerk, with_groups()).await;
    let groups = |n: usize| Value::Array((0..n).map(|i| json!(format!("o{i}"))).collect());

    let token = h.mint(&app, "user_many", &[("groups", groups(5_000))]);
    let status = assert_refused(
        h.verify(app.id, &token).await,
        Code::Unauthenticated,
        RefusalReason::Malformed,
    );
    for fragment in ["\"groups\"", "5000 entries", "at most 1000"] {
        assert!(
            status.message().contains(fragment),
            "{fragment:?} not in {:?}",
            status.message()
        );
    }
    let store = h.store();
    assert!(
        store
            .list_groups(app.id, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "no group was created"
    );
    let user = ExternalUserId::parse("sub", "user_many").unwrap();
    assert!(
        store
            .get_user_by_external_id(app.id, &user)
            .await
            .unwrap()
            .is_none(),
        "no user was provisioned from the refused token"
    );

    // At the limit the token is an ordinary sign-in.
    let token = h.mint(&app, "user_many", &[("groups", groups(1_000))]);
    let answer = h
        .verify(app.id, &token)
        .await
        .expect("1000 groups accepted");
    assert_eq!(answer.groups.len(), 1_000);
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_04_an_aud_array_with_non_string_members_is_malformed() {
    let h = Harness::start().await;
    let app = h
        .app("aud-shape", TenantKind::Auth0, ClaimMappings::default())
        .await;
    for aud in [
        json!([AUDIENCE, 7]),
        json!([{"aud": AUDIENCE}, AUDIENCE]),
        json!([AUDIENCE, null]),
    ] {
        let token = h.mint(&app, "auth0|1", &[("aud", aud.clone())]);
        let status = assert_refused(
            h.verify(app.id, &token).await,
            Code::Unauthenticated,
            RefusalReason::Malformed,
        );
        assert!(
            status
                .message()
                .contains("aud claim must be an array of strings"),
            "{aud}: {}",
            status.message()
        );
    }
    // The same audience in a well-formed array verifies.
    let token = h.mint(&app, "auth0|1", &[("aud", json!(["other", AUDIENCE]))]);
    h.verify(app.id, &token).await.expect("array of strings");
    h.stop().await;
}
