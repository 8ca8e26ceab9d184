use std::time::{Duration, Instant};

use alter_core::UserStatus;
use alter_idp_sim::{Fault, GenerateSpec, RateLimit, TenantKind, UserStatus as SimStatus};
use alter_providers::directory::{DirectoryError, RequestBudget};

use super::{Dir, read_all};

async fn auth0_with(users: usize) -> Dir {
    let d = Dir::new(TenantKind::Auth0).await;
    d.sim
        .generate(
            d.tenant,
            GenerateSpec {
                users,
                ..GenerateSpec::default()
            },
        )
        .unwrap();
    d
}

/// Every sim user is listed once, with email, name and status (blocked → suspended).
fn assert_matches_sim(d: &Dir, listing: &super::Listing) {
    let users = d.sim.users(d.tenant).unwrap();
    assert_eq!(listing.users.len(), users.len());
    for u in &users {
        let got = listing.user(&u.id);
        assert_eq!(got.email.as_deref(), Some(u.email.as_str()));
        let expected = if u.status == SimStatus::Blocked {
            UserStatus::Suspended
        } else {
            UserStatus::Active
        };
        assert_eq!(got.status, expected, "{}", u.id);
        assert_eq!(
            got.display_name.as_deref(),
            Some(format!("{} {}", u.first_name, u.last_name).as_str())
        );
    }
    assert!(listing.groups.is_empty() && listing.members.is_empty());
}

#[tokio::test]
async fn r_dir_02_r_dir_07_auth0_small_tenant_is_paged_and_blocked_users_are_suspended() {
    let d = auth0_with(250).await;
    let users = d.sim.users(d.tenant).unwrap();
    for u in users.iter().step_by(7) {
        d.sim
            .set_user_status(d.tenant, &u.id, SimStatus::Blocked)
            .unwrap();
    }
    let listing = d.read_all().await.unwrap();
    assert_matches_sim(&d, &listing);
    assert!(
        listing
            .users
            .iter()
            .any(|u| u.status == UserStatus::Suspended)
    );
    // paged: 3 pages of ≤100, no export job
    assert_eq!(listing.pages, 3);
}

#[tokio::test]
async fn r_dir_07_auth0_tenant_of_5000_users_is_read_completely_through_the_export_job() {
    let d = auth0_with(5000).await;
    let users = d.sim.users(d.tenant).unwrap();
    for u in users.iter().skip(4000).step_by(97) {
        d.sim
            .set_user_status(d.tenant, &u.id, SimStatus::Blocked)
            .unwrap();
    }
    d.sim.reset_counters(d.tenant).unwrap();
    let listing = d.read_all().await.unwrap();
    assert_matches_sim(&d, &listing);
    assert_eq!(listing.pages, 5, "pages of 1,000 users");
    // Paging could reach only 1,000 users: token, first page, job, polls, download.
    let c = d.sim.counters(d.tenant).unwrap();
    assert!(c.api_requests <= 8, "{c:?}");
}

#[tokio::test]
async fn r_dir_04_auth0_export_that_fails_or_a_page_that_keeps_failing_is_unavailable() {
    let d = auth0_with(1200).await;
    d.sim.fail_next_exports(d.tenant, 1).unwrap();
    let err = d.read_all().await.unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Unavailable { detail } if detail.contains("users-export job")),
        "{err:?}"
    );
    // A download (page 0 of the export) that fails once is retried through.
    d.sim
        .inject_fault(d.tenant, Fault::FailPage { page: 0, times: 1 })
        .unwrap();
    let listing = d.read_all().await.unwrap();
    assert_eq!(listing.users.len(), 1200);

    let small = auth0_with(300).await;
    small
        .sim
        .inject_fault(small.tenant, Fault::FailPage { page: 2, times: 1 })
        .unwrap();
    let mut r = small.reader(RequestBudget::per_minute(100_000)).await;
    let listing = read_all(&mut r).await.unwrap();
    assert_eq!(listing.users.len(), 300);
    assert_eq!(r.stats().retries, 1);

    small
        .sim
        .inject_fault(
            small.tenant,
            Fault::FailPage {
                page: 1,
                times: 100,
            },
        )
        .unwrap();
    let err = small.read_all().await.unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Unavailable { detail } if detail.contains("HTTP 500")),
        "{err:?}"
    );
}

#[tokio::test]
async fn r_dir_07_auth0_rate_limit_headers_are_honoured_so_no_window_is_exceeded() {
    let d = auth0_with(850).await;
    d.sim
        .set_rate_limit(
            d.tenant,
            Some(RateLimit {
                limit: 3,
                window_secs: 1,
            }),
        )
        .unwrap();
    d.sim.reset_counters(d.tenant).unwrap();
    let start = Instant::now();
    let mut r = d.reader(RequestBudget::per_minute(100_000)).await;
    let listing = read_all(&mut r).await.unwrap();
    assert_eq!(listing.users.len(), 850);
    let c = d.sim.counters(d.tenant).unwrap();
    assert_eq!(c.rate_limited, 0, "{c:?}");
    // token + 9 pages at 3 per second: at least two window resets waited for
    assert_eq!(c.token_requests + c.api_requests, 10);
    assert!(
        r.stats().waited >= Duration::from_secs(1),
        "{:?}",
        r.stats()
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn r_dir_04_an_auth0_absentee_is_confirmed_gone_before_removal() {
    let d = auth0_with(3).await;
    let users = d.sim.users(d.tenant).unwrap();
    d.sim.delete_user(d.tenant, &users[0].id).unwrap();
    let mut reader = d.reader(RequestBudget::per_minute(60_000)).await;
    let gone = alter_core::ExternalUserId::parse("id", &users[0].id).unwrap();
    let still = alter_core::ExternalUserId::parse("id", &users[1].id).unwrap();
    assert!(reader.confirm_absent(&gone).await.unwrap());
    assert!(!reader.confirm_absent(&still).await.unwrap());
}
