use std::collections::HashSet;
use std::time::{Duration, Instant};

use alter_core::UserStatus;
use alter_idp_sim::{Fault, GenerateSpec, RateLimit, TenantKind, UserStatus as SimStatus};
use alter_providers::directory::{DirectoryError, RequestBudget};

use super::{Dir, read_all};

async fn clerk_with(users: usize, groups: usize, per_user: usize) -> Dir {
    let d = Dir::new(TenantKind::Clerk).await;
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

#[tokio::test]
async fn r_dir_02_clerk_lists_users_organizations_and_memberships_with_banned_as_suspended() {
    let d = clerk_with(1203, 4, 2).await;
    let users = d.sim.users(d.tenant).unwrap();
    for u in users.iter().step_by(11) {
        d.sim
            .set_user_status(d.tenant, &u.id, SimStatus::Banned)
            .unwrap();
    }
    d.sim
        .set_user_status(d.tenant, &users[1].id, SimStatus::LockedOut)
        .unwrap();
    let empty = d
        .sim
        .add_group(d.tenant, alter_idp_sim::NewGroup::default())
        .unwrap();
    let listing = d.read_all().await.unwrap();

    assert_eq!(listing.users.len(), users.len());
    for u in &users {
        let got = listing.user(&u.id);
        assert_eq!(got.email.as_deref(), Some(u.email.as_str()));
        assert_eq!(
            got.display_name.as_deref(),
            Some(format!("{} {}", u.first_name, u.last_name).as_str())
        );
        let banned = users.iter().step_by(11).any(|b| b.id == u.id);
        let expected = if banned {
            UserStatus::Suspended
        } else {
            UserStatus::Active
        };
        assert_eq!(got.status, expected, "{}", u.id);
    }
    let groups = d.sim.groups(d.tenant).unwrap();
    assert_eq!(listing.groups.len(), groups.len());
    for g in &groups {
        let got = listing
            .groups
            .iter()
            .find(|x| x.external_id.as_str() == g.id)
            .unwrap();
        assert_eq!(got.name.as_deref(), Some(g.name.as_str()));
    }
    // every user is in two organizations, and the empty one is reported with no members
    assert_eq!(listing.membership_count(), users.len() * 2);
    assert_eq!(listing.members[&empty.id], Vec::<String>::new());
    let ids: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    for (group, members) in &listing.members {
        let unique: HashSet<&String> = members.iter().collect();
        assert_eq!(unique.len(), members.len(), "{group}");
        assert!(members.iter().all(|m| ids.contains(m.as_str())));
    }
    // a membership added by hand is seen in its group
    let d2 = clerk_with(3, 2, 0).await;
    let u = &d2.sim.users(d2.tenant).unwrap()[2];
    let g = &d2.sim.groups(d2.tenant).unwrap()[1];
    d2.sim
        .add_membership(d2.tenant, &g.id, &u.id, None)
        .unwrap();
    let l2 = d2.read_all().await.unwrap();
    assert_eq!(l2.members[&g.id], vec![u.id.clone()]);
    assert_eq!(l2.membership_count(), 1);
}

#[tokio::test]
async fn clerk_page_failing_once_is_retried_and_failing_for_good_is_unavailable() {
    let d = clerk_with(1100, 2, 1).await;
    d.sim
        .inject_fault(d.tenant, Fault::FailPage { page: 1, times: 2 })
        .unwrap();
    let mut r = d.reader(RequestBudget::per_minute(100_000)).await;
    let listing = read_all(&mut r).await.unwrap();
    assert_eq!(listing.users.len(), 1100);
    assert_eq!(r.stats().retries, 2);

    d.sim
        .inject_fault(d.tenant, Fault::FailPage { page: 2, times: 50 })
        .unwrap();
    let err = d.read_all().await.unwrap_err();
    assert!(
        matches!(&err, DirectoryError::Unavailable { detail } if detail.contains("GET /v1/users") && detail.contains("3 times")),
        "{err:?}"
    );
}

#[tokio::test]
async fn r_dir_07_clerk_429_waits_for_retry_after_and_the_listing_completes() {
    let d = clerk_with(1001, 6, 1).await;
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
    let start = Instant::now();
    let mut r = d.reader(RequestBudget::per_minute(100_000)).await;
    let listing = read_all(&mut r).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(listing.users.len(), 1001);
    assert_eq!(listing.membership_count(), 1001);
    let c = d.sim.counters(d.tenant).unwrap();
    // 3 user pages, 1 + 1 organization pages, 6 membership pages = 11 requests at 4/s:
    // Clerk sends no remaining-count header, so some 429s happen, but after each one the
    // reader waits for Retry-After (the next window): at most one 429 per window.
    assert!(c.rate_limited >= 1, "{c:?}");
    assert_eq!(r.stats().rate_limited, c.rate_limited);
    assert!(
        c.rate_limited <= elapsed.as_secs() + 1,
        "{c:?} in {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(30));
}

#[tokio::test]
async fn r_dir_04_an_absentee_is_confirmed_gone_with_the_provider_before_removal() {
    let d = clerk_with(3, 0, 0).await;
    let users = d.sim.users(d.tenant).unwrap();
    d.sim.delete_user(d.tenant, &users[0].id).unwrap();
    let mut reader = d.reader(RequestBudget::per_minute(60_000)).await;
    let gone = alter_core::ExternalUserId::parse("id", &users[0].id).unwrap();
    let still = alter_core::ExternalUserId::parse("id", &users[1].id).unwrap();
    assert!(reader.confirm_absent(&gone).await.unwrap());
    assert!(
        !reader.confirm_absent(&still).await.unwrap(),
        "a user the listing skipped but Clerk still has is kept"
    );
}
