use std::collections::HashSet;
use std::time::{Duration, Instant};

use alter_core::UserStatus;
use alter_idp_sim::{Fault, GenerateSpec, RateLimit, TenantKind, UserStatus as SimStatus};
use alter_providers::directory::{DirectoryError, RequestBudget};

use super::{Dir, read_all};

async fn okta_with(users: usize, groups: usize, per_user: usize) -> Dir {
    let d = Dir::new(TenantKind::Okta).await;
    d.sim
        .generate(
            d.tenant,
            GenerateSpec {
                users,
                groups,
                memberships_per_user: per_user,
            },
        )
        .unwrap();
    d
}

fn expected(s: SimStatus) -> UserStatus {
    match s {
        SimStatus::Suspended => UserStatus::Suspended,
        SimStatus::Deprovisioned => UserStatus::Deprovisioned,
        _ => UserStatus::Active,
    }
}

#[tokio::test]
async fn r_dir_02_r_dir_07_okta_lists_users_including_deprovisioned_then_groups_then_members() {
    let d = okta_with(450, 5, 2).await;
    let users = d.sim.users(d.tenant).unwrap();
    for (i, u) in users.iter().enumerate() {
        let status = match i % 10 {
            1 => SimStatus::Suspended,
            2 | 3 => SimStatus::Deprovisioned,
            4 => SimStatus::Staged,
            5 => SimStatus::LockedOut,
            _ => continue,
        };
        d.sim.set_user_status(d.tenant, &u.id, status).unwrap();
    }
    let users = d.sim.users(d.tenant).unwrap();
    let listing = d.read_all().await.unwrap();
    assert_eq!(listing.users.len(), users.len());
    for u in &users {
        let got = listing.user(&u.id);
        assert_eq!(got.status, expected(u.status), "{}", u.id);
        assert_eq!(got.email.as_deref(), Some(u.email.as_str()));
        assert_eq!(
            got.display_name.as_deref(),
            Some(format!("{} {}", u.first_name, u.last_name).as_str())
        );
    }
    let deprovisioned = listing
        .users
        .iter()
        .filter(|u| u.status == UserStatus::Deprovisioned)
        .count();
    assert_eq!(deprovisioned, 90);
    let groups = d.sim.groups(d.tenant).unwrap();
    assert_eq!(listing.groups.len(), 5);
    for g in &groups {
        let got = listing
            .groups
            .iter()
            .find(|x| x.external_id.as_str() == g.id)
            .unwrap();
        assert_eq!(got.name.as_deref(), Some(g.name.as_str()));
    }
    assert_eq!(listing.membership_count(), 900);
    let ids: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    for members in listing.members.values() {
        assert!(members.iter().all(|m| ids.contains(m.as_str())));
        assert_eq!(members.iter().collect::<HashSet<_>>().len(), members.len());
    }
}

#[tokio::test]
async fn okta_group_members_spanning_pages_are_all_read() {
    let d = okta_with(2300, 1, 1).await;
    let listing = d.read_all().await.unwrap();
    let g = &d.sim.groups(d.tenant).unwrap()[0];
    assert_eq!(listing.members[&g.id].len(), 2300);
    // 12 user pages of 200, then the rest
    assert!(listing.pages >= 12 + 1 + 3);
}

#[tokio::test]
async fn okta_page_failing_once_is_retried_and_failing_for_good_is_unavailable() {
    let d = okta_with(500, 2, 1).await;
    d.sim
        .inject_fault(d.tenant, Fault::FailPage { page: 1, times: 1 })
        .unwrap();
    let mut r = d.reader(RequestBudget::per_minute(100_000)).await;
    let listing = read_all(&mut r).await.unwrap();
    assert_eq!(listing.users.len(), 500);
    assert_eq!(r.stats().retries, 1);

    d.sim
        .inject_fault(
            d.tenant,
            Fault::FailPage {
                page: 2,
                times: 1000,
            },
        )
        .unwrap();
    let err = d.read_all().await.unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Unavailable { detail } if detail.contains("HTTP 500")),
        "{err:?}"
    );
}

#[tokio::test]
async fn r_dir_07_okta_rate_limit_headers_are_honoured_so_no_window_is_exceeded() {
    let d = okta_with(600, 8, 1).await;
    d.sim
        .set_rate_limit(
            d.tenant,
            Some(RateLimit {
                limit: 4,
                window_secs: 1,
            }),
        )
        .unwrap();
    d.sim.reset_counters(d.tenant).unwrap();
    let mut r = d.reader(RequestBudget::per_minute(100_000)).await;
    let listing = read_all(&mut r).await.unwrap();
    assert_eq!(listing.users.len(), 600);
    assert_eq!(listing.membership_count(), 600);
    let c = d.sim.counters(d.tenant).unwrap();
    assert_eq!(c.rate_limited, 0, "{c:?}");
    // token, 3 + 1 user pages, 1 + 1 group pages, 8 member pages
    assert_eq!(c.token_requests + c.api_requests, 15, "{c:?}");
    assert!(
        r.stats().waited >= Duration::from_secs(2),
        "{:?}",
        r.stats()
    );
}

#[tokio::test]
async fn r_dir_09_the_request_budget_caps_requests_per_minute() {
    let d = okta_with(10, 20, 1).await;
    d.sim.reset_counters(d.tenant).unwrap();
    // 240/min = 4/s with a burst of 4
    let budget = RequestBudget::per_minute(240);
    let start = Instant::now();
    let mut r = d.reader(budget).await;
    let listing = read_all(&mut r).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(listing.groups.len(), 20);
    let c = d.sim.counters(d.tenant).unwrap();
    let sent = c.token_requests + c.api_requests;
    // token, 2 user listings, 2 group listings, 20 member listings
    assert_eq!(sent, 25);
    assert_eq!(r.stats().requests, sent);
    // (25 - burst 4) requests at 4/s need at least ~5 s
    assert!(elapsed >= Duration::from_millis(4_900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    assert!(
        r.stats().waited >= Duration::from_secs(4),
        "{:?}",
        r.stats()
    );
}
