//! A tenant's users, groups and memberships, indexed so that every listing costs
//! O(log n + page) rather than a scan: insertion-ordered vectors carry sequence numbers
//! (what cursors point at, so a cursor survives deletions), sort orders are kept as index
//! vectors rebuilt only after a change that breaks them, and memberships are listed per
//! group and per user.

use std::collections::HashMap;

use crate::error::SimError;
use crate::model::{Group, Membership, NewGroup, NewUser, TenantKind, User, UserPatch};

/// Sort key of a user listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UserOrder {
    /// Insertion order (Okta, Auth0 without `sort`, export files).
    Inserted,
    /// `(created_ms, id)`.
    Created,
    /// `(updated_ms, id)`.
    Updated,
}

/// Users, groups and memberships of one tenant.
pub(crate) struct Directory {
    tenant: String,
    kind: TenantKind,
    seq: u64,
    users: Vec<User>,
    /// Sequence number of `users[i]`; strictly increasing.
    user_seq: Vec<u64>,
    user_index: HashMap<String, usize>,
    /// Indices into `users` sorted by `(created_ms, id)`; `None` = rebuild on next use.
    by_created: Option<Vec<usize>>,
    /// Indices into `users` sorted by `(updated_ms, id)`.
    by_updated: Option<Vec<usize>>,
    groups: Vec<Group>,
    group_seq: Vec<u64>,
    group_index: HashMap<String, usize>,
    groups_by_created: Option<Vec<usize>>,
    /// Every membership in insertion order, with its sequence number alongside.
    memberships: Vec<Membership>,
    membership_seq: Vec<u64>,
    /// Group id → membership sequence numbers, ascending.
    by_group: HashMap<String, Vec<u64>>,
    /// User id → membership sequence numbers, ascending.
    by_user: HashMap<String, Vec<u64>>,
    /// (group id, user id) → membership sequence number.
    by_pair: HashMap<(String, String), u64>,
}

fn created_key(u: &User) -> (i64, &str) {
    (u.created_ms, u.id.as_str())
}

fn updated_key(u: &User) -> (i64, &str) {
    (u.updated_ms, u.id.as_str())
}

impl Directory {
    pub(crate) fn new(tenant: &str, kind: TenantKind) -> Self {
        Self {
            tenant: tenant.to_string(),
            kind,
            seq: 0,
            users: Vec::new(),
            user_seq: Vec::new(),
            user_index: HashMap::new(),
            by_created: Some(Vec::new()),
            by_updated: Some(Vec::new()),
            groups: Vec::new(),
            group_seq: Vec::new(),
            group_index: HashMap::new(),
            groups_by_created: Some(Vec::new()),
            memberships: Vec::new(),
            membership_seq: Vec::new(),
            by_group: HashMap::new(),
            by_user: HashMap::new(),
            by_pair: HashMap::new(),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn not_found(&self, what: &'static str, id: &str) -> SimError {
        SimError::NotFound {
            tenant: self.tenant.clone(),
            what,
            id: id.to_string(),
        }
    }

    fn user_id(&self, n: u64) -> String {
        match self.kind {
            TenantKind::Auth0 => format!("auth0|{:024x}", 0x5eed_0000_0000_0000_u64 + n),
            TenantKind::Clerk => format!("user_2sim{n:0>23}"),
            TenantKind::Okta => format!("00u{n:0>17}"),
            TenantKind::Oidc => format!("sub-{n:0>12}"),
        }
    }

    fn group_id(&self, n: u64) -> String {
        match self.kind {
            TenantKind::Okta => format!("00g{n:0>17}"),
            _ => format!("org_2sim{n:0>22}"),
        }
    }

    // ---- users ----

    pub(crate) fn users(&self) -> &[User] {
        &self.users
    }

    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.user_index.get(id).and_then(|i| self.users.get(*i))
    }

    pub(crate) fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users.iter().find(|u| u.email == email)
    }

    pub(crate) fn add_user(&mut self, new: NewUser, now_ms: i64) -> Result<User, SimError> {
        let n = self.next_seq();
        let id = new.id.unwrap_or_else(|| self.user_id(n));
        if self.user_index.contains_key(&id) {
            return Err(SimError::invalid(
                "id",
                format!("user `{id}` already exists"),
            ));
        }
        let created = new.created_ms.unwrap_or(now_ms);
        let user = User {
            email: new.email.unwrap_or_else(|| format!("user{n}@example.test")),
            first_name: new.first_name.unwrap_or_else(|| format!("First{n}")),
            last_name: new.last_name.unwrap_or_else(|| format!("Last{n}")),
            status: new.status.unwrap_or_default(),
            created_ms: created,
            updated_ms: created,
            id: id.clone(),
        };
        let idx = self.users.len();
        // Keep the sort orders valid when the new user sorts last (the common case:
        // users created in time order); otherwise they are rebuilt on next use.
        let fits = |order: &Option<Vec<usize>>, key: fn(&User) -> (i64, &str)| {
            order.as_ref().is_some_and(|o| {
                o.last()
                    .and_then(|i| self.users.get(*i))
                    .is_none_or(|last| key(last) < key(&user))
            })
        };
        let (c_fits, u_fits) = (
            fits(&self.by_created, created_key),
            fits(&self.by_updated, updated_key),
        );
        match (&mut self.by_created, c_fits) {
            (Some(o), true) => o.push(idx),
            _ => self.by_created = None,
        }
        match (&mut self.by_updated, u_fits) {
            (Some(o), true) => o.push(idx),
            _ => self.by_updated = None,
        }
        self.user_index.insert(id, idx);
        self.user_seq.push(n);
        self.users.push(user.clone());
        Ok(user)
    }

    pub(crate) fn patch_user(
        &mut self,
        id: &str,
        patch: UserPatch,
        now_ms: i64,
    ) -> Result<User, SimError> {
        let idx = self.user_index.get(id).copied();
        let Some(u) = idx.and_then(|i| self.users.get_mut(i)) else {
            return Err(self.not_found("user", id));
        };
        if let Some(v) = patch.email {
            u.email = v;
        }
        if let Some(v) = patch.first_name {
            u.first_name = v;
        }
        if let Some(v) = patch.last_name {
            u.last_name = v;
        }
        if let Some(v) = patch.status {
            u.status = v;
        }
        u.updated_ms = now_ms.max(u.updated_ms + 1);
        let out = u.clone();
        self.by_updated = None;
        Ok(out)
    }

    /// Removes a user and every membership of theirs.
    pub(crate) fn delete_user(&mut self, id: &str) -> Result<(), SimError> {
        let Some(idx) = self.user_index.get(id).copied() else {
            return Err(self.not_found("user", id));
        };
        self.users.remove(idx);
        self.user_seq.remove(idx);
        for (i, u) in self.users.iter().enumerate().skip(idx) {
            self.user_index.insert(u.id.clone(), i);
        }
        self.user_index.remove(id);
        self.by_created = None;
        self.by_updated = None;
        for seq in self.by_user.remove(id).unwrap_or_default() {
            if let Some(m) = self.take_membership(seq) {
                self.by_pair
                    .remove(&(m.group_id.clone(), m.user_id.clone()));
                remove_sorted(self.by_group.get_mut(&m.group_id), seq);
            }
        }
        Ok(())
    }

    /// Position in insertion order of the first user with a sequence number above `seq`.
    pub(crate) fn user_pos_after(&self, seq: u64) -> usize {
        self.user_seq.partition_point(|s| *s <= seq)
    }

    pub(crate) fn user_seq_at(&self, pos: usize) -> Option<u64> {
        self.user_seq.get(pos).copied()
    }

    /// Rebuilds the index of `order` if a change invalidated it.
    fn ensure_order(&mut self, order: UserOrder) {
        let users = &self.users;
        let build = |key: fn(&User) -> (i64, &str)| {
            let mut v: Vec<usize> = (0..users.len()).collect();
            v.sort_by(|a, b| users.get(*a).map(key).cmp(&users.get(*b).map(key)));
            v
        };
        match order {
            UserOrder::Inserted => {}
            UserOrder::Created => {
                if self.by_created.is_none() {
                    self.by_created = Some(build(created_key));
                }
            }
            UserOrder::Updated => {
                if self.by_updated.is_none() {
                    self.by_updated = Some(build(updated_key));
                }
            }
        }
    }

    /// User indices in `order` (ascending); call `ensure_order` first.
    fn order_slice(&self, order: UserOrder) -> &[usize] {
        match order {
            UserOrder::Inserted => &[],
            UserOrder::Created => self.by_created.as_deref().unwrap_or_default(),
            UserOrder::Updated => self.by_updated.as_deref().unwrap_or_default(),
        }
    }

    /// Users at positions `[from, to)` of `order`, ascending.
    pub(crate) fn users_at(&mut self, order: UserOrder, from: usize, to: usize) -> Vec<&User> {
        self.ensure_order(order);
        let to = to.min(self.users.len());
        let from = from.min(to);
        if order == UserOrder::Inserted {
            return self
                .users
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .collect();
        }
        self.order_slice(order)
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .filter_map(|i| self.users.get(*i))
            .collect()
    }

    /// Every user in `order`, ascending (for filtered scans).
    pub(crate) fn users_in(&mut self, order: UserOrder) -> Vec<&User> {
        let n = self.users.len();
        self.users_at(order, 0, n)
    }

    /// Users `[offset, offset + limit)` of `order` (descending if `desc`), with no filter.
    pub(crate) fn users_page(
        &mut self,
        order: UserOrder,
        desc: bool,
        offset: usize,
        limit: usize,
    ) -> Vec<&User> {
        let n = self.users.len();
        if desc {
            let hi = n.saturating_sub(offset);
            let mut page = self.users_at(order, hi.saturating_sub(limit), hi);
            page.reverse();
            page
        } else {
            self.users_at(order, offset, offset.saturating_add(limit))
        }
    }

    /// Positions `[from, to)` in `order` (Created or Updated) whose key time lies in the
    /// range; bounds are `(ms, inclusive)`.
    pub(crate) fn time_range(
        &mut self,
        order: UserOrder,
        lo: Option<(i64, bool)>,
        hi: Option<(i64, bool)>,
    ) -> (usize, usize) {
        let key: fn(&User) -> i64 = match order {
            UserOrder::Updated => |u| u.updated_ms,
            _ => |u| u.created_ms,
        };
        let order = if order == UserOrder::Inserted {
            UserOrder::Created
        } else {
            order
        };
        self.ensure_order(order);
        let idx = self.order_slice(order);
        let users = &self.users;
        let t = |i: &usize| users.get(*i).map_or(i64::MIN, key);
        let from = match lo {
            None => 0,
            Some((ms, true)) => idx.partition_point(|i| t(i) < ms),
            Some((ms, false)) => idx.partition_point(|i| t(i) <= ms),
        };
        let to = match hi {
            None => idx.len(),
            Some((ms, true)) => idx.partition_point(|i| t(i) <= ms),
            Some((ms, false)) => idx.partition_point(|i| t(i) < ms),
        };
        (from, to.max(from))
    }

    // ---- groups ----

    pub(crate) fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub(crate) fn group(&self, id: &str) -> Option<&Group> {
        self.group_index.get(id).and_then(|i| self.groups.get(*i))
    }

    pub(crate) fn add_group(&mut self, new: NewGroup, now_ms: i64) -> Result<Group, SimError> {
        let n = self.next_seq();
        let id = new.id.unwrap_or_else(|| self.group_id(n));
        if self.group_index.contains_key(&id) {
            return Err(SimError::invalid(
                "id",
                format!("group `{id}` already exists"),
            ));
        }
        let name = new.name.unwrap_or_else(|| format!("Group {n}"));
        let group = Group {
            slug: name
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
            description: new.description.unwrap_or_default(),
            name,
            created_ms: now_ms,
            updated_ms: now_ms,
            id: id.clone(),
        };
        let idx = self.groups.len();
        let fits = self.groups_by_created.as_ref().is_some_and(|o| {
            o.last().and_then(|i| self.groups.get(*i)).is_none_or(|g| {
                (g.created_ms, g.id.as_str()) < (group.created_ms, group.id.as_str())
            })
        });
        match (&mut self.groups_by_created, fits) {
            (Some(o), true) => o.push(idx),
            _ => self.groups_by_created = None,
        }
        self.group_index.insert(id, idx);
        self.group_seq.push(n);
        self.groups.push(group.clone());
        Ok(group)
    }

    pub(crate) fn group_pos_after(&self, seq: u64) -> usize {
        self.group_seq.partition_point(|s| *s <= seq)
    }

    pub(crate) fn group_seq_at(&self, pos: usize) -> Option<u64> {
        self.group_seq.get(pos).copied()
    }

    /// Groups newest first (Clerk's default organization order), `[offset, offset + limit)`.
    pub(crate) fn groups_newest_first(&mut self, offset: usize, limit: usize) -> Vec<&Group> {
        let groups = &self.groups;
        let order = self.groups_by_created.get_or_insert_with(|| {
            let mut v: Vec<usize> = (0..groups.len()).collect();
            v.sort_by(|a, b| {
                let k = |i: &usize| groups.get(*i).map(|g| (g.created_ms, g.id.clone()));
                k(a).cmp(&k(b))
            });
            v
        });
        order
            .iter()
            .rev()
            .skip(offset)
            .take(limit)
            .filter_map(|i| groups.get(*i))
            .collect()
    }

    // ---- memberships ----

    pub(crate) fn memberships(&self) -> &[Membership] {
        &self.memberships
    }

    pub(crate) fn membership(&self, seq: u64) -> Option<&Membership> {
        self.membership_seq
            .binary_search(&seq)
            .ok()
            .and_then(|i| self.memberships.get(i))
    }

    /// Membership sequence numbers of a group, ascending (insertion order).
    pub(crate) fn group_members(&self, group_id: &str) -> &[u64] {
        self.by_group.get(group_id).map_or(&[], Vec::as_slice)
    }

    /// Membership sequence numbers of a user, ascending.
    pub(crate) fn user_memberships(&self, user_id: &str) -> &[u64] {
        self.by_user.get(user_id).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn member_count(&self, group_id: &str) -> usize {
        self.group_members(group_id).len()
    }

    pub(crate) fn add_membership(
        &mut self,
        group_id: &str,
        user_id: &str,
        role: Option<String>,
        now_ms: i64,
    ) -> Result<Membership, SimError> {
        if self.user(user_id).is_none() {
            return Err(self.not_found("user", user_id));
        }
        if self.group(group_id).is_none() {
            return Err(self.not_found("group", group_id));
        }
        let pair = (group_id.to_string(), user_id.to_string());
        if let Some(m) = self.by_pair.get(&pair).and_then(|s| self.membership(*s)) {
            return Ok(m.clone());
        }
        let n = self.next_seq();
        let m = Membership {
            id: format!("orgmem_2sim{n:0>21}"),
            group_id: pair.0.clone(),
            user_id: pair.1.clone(),
            role: role.unwrap_or_else(|| "org:member".to_string()),
            created_ms: now_ms,
        };
        self.by_group.entry(pair.0.clone()).or_default().push(n);
        self.by_user.entry(pair.1.clone()).or_default().push(n);
        self.by_pair.insert(pair, n);
        self.memberships.push(m.clone());
        self.membership_seq.push(n);
        if let Some(g) = self
            .group_index
            .get(group_id)
            .and_then(|i| self.groups.get_mut(*i))
        {
            g.updated_ms = now_ms;
        }
        Ok(m)
    }

    pub(crate) fn remove_membership(
        &mut self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Membership, SimError> {
        let pair = (group_id.to_string(), user_id.to_string());
        let Some(seq) = self.by_pair.remove(&pair) else {
            return Err(self.not_found("membership", &format!("{group_id}/{user_id}")));
        };
        remove_sorted(self.by_group.get_mut(group_id), seq);
        remove_sorted(self.by_user.get_mut(user_id), seq);
        self.take_membership(seq)
            .ok_or_else(|| self.not_found("membership", &format!("{group_id}/{user_id}")))
    }

    fn take_membership(&mut self, seq: u64) -> Option<Membership> {
        let i = self.membership_seq.binary_search(&seq).ok()?;
        self.membership_seq.remove(i);
        Some(self.memberships.remove(i))
    }
}

fn remove_sorted(v: Option<&mut Vec<u64>>, seq: u64) {
    if let Some(v) = v
        && let Ok(i) = v.binary_search(&seq)
    {
        v.remove(i);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::time::Instant;

    use super::*;

    fn big() -> Directory {
        let mut d = Directory::new("t", TenantKind::Clerk);
        let now = 1_700_000_000_000;
        for i in 0..100_000_i64 {
            let new = NewUser {
                created_ms: Some(now - (100_000 - i) * 1000),
                ..NewUser::default()
            };
            d.add_user(new, now).unwrap();
        }
        for _ in 0..1000 {
            d.add_group(NewGroup::default(), now).unwrap();
        }
        let gids: Vec<String> = d.groups().iter().map(|g| g.id.clone()).collect();
        let uids: Vec<String> = d.users().iter().map(|u| u.id.clone()).collect();
        for (i, u) in uids.iter().enumerate() {
            d.add_membership(&gids[i % gids.len()], u, None, now)
                .unwrap();
        }
        d
    }

    /// A thousand deep pages of each kind cost far less than one scan of the directory per
    /// page would: the listing never walks rows it does not return.
    #[test]
    fn deep_pages_of_a_100k_directory_are_cheap() {
        let mut d = big();
        let started = Instant::now();
        for k in 0..1000_usize {
            let offset = 99_000 - k * 90;
            assert_eq!(
                d.users_page(UserOrder::Created, true, offset, 100).len(),
                100
            );
            assert_eq!(
                d.users_page(UserOrder::Inserted, false, offset, 100).len(),
                100
            );
            let pos = d.user_pos_after(d.user_seq_at(offset).unwrap());
            assert_eq!(pos, offset + 1);
            let members = d.group_members(&d.groups()[k].id.clone()).len();
            assert_eq!(members, 100);
            let (from, to) =
                d.time_range(UserOrder::Created, Some((1_699_950_000_000, true)), None);
            assert_eq!(to - from, 50_000);
        }
        let took = started.elapsed();
        assert!(took.as_millis() < 1000, "1000 pages took {took:?}");
    }

    #[test]
    fn sort_orders_follow_out_of_order_inserts_patches_and_deletes() {
        let mut d = Directory::new("t", TenantKind::Okta);
        for ms in [30, 10, 20] {
            let new = NewUser {
                created_ms: Some(ms),
                ..NewUser::default()
            };
            d.add_user(new, 0).unwrap();
        }
        let created: Vec<i64> = d
            .users_page(UserOrder::Created, false, 0, 10)
            .iter()
            .map(|u| u.created_ms)
            .collect();
        assert_eq!(created, vec![10, 20, 30]);
        let first = d.users()[0].id.clone();
        d.patch_user(&first, UserPatch::default(), 1000).unwrap();
        let newest = d.users_page(UserOrder::Updated, true, 0, 1)[0].id.clone();
        assert_eq!(newest, first);
        let g = d.add_group(NewGroup::default(), 0).unwrap();
        d.add_membership(&g.id, &first, None, 0).unwrap();
        assert_eq!(d.member_count(&g.id), 1);
        let seq_after_first = d.user_seq_at(0).unwrap();
        d.delete_user(&first).unwrap();
        assert_eq!(d.member_count(&g.id), 0);
        assert!(d.memberships().is_empty());
        // A cursor pointing at the deleted user still resumes after it.
        assert_eq!(d.user_pos_after(seq_after_first), 0);
        let created: Vec<i64> = d
            .users_page(UserOrder::Created, false, 0, 10)
            .iter()
            .map(|u| u.created_ms)
            .collect();
        assert_eq!(created, vec![10, 20]);
    }
}
