//! In-memory caches of the hot path and how they are invalidated (R-JWT-10).
//!
//! Invalidation is O(1): every entry records the generations it was built under (a global
//! one, its app's and its user's), and a lookup compares them with the current ones. Bumping
//! a generation makes every entry built before it stale at once, without touching the maps.
//! App and user generations live in fixed arrays of counters indexed by a hash of the ID, so
//! memory stays bounded whatever IDs arrive; two IDs sharing a slot only cost a cache miss.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use alter_core::{AppId, UserId};
use uuid::Uuid;

const APP_SLOTS: usize = 1 << 12;
const USER_SLOTS: usize = 1 << 16;

/// The generations an entry was built under; stale once any of them moved on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    global: u64,
    app: u64,
    user: u64,
}

/// Generation counters: bump one to invalidate everything cached under it.
pub(crate) struct Generations {
    global: AtomicU64,
    apps: Box<[AtomicU64]>,
    users: Box<[AtomicU64]>,
}

fn slot(id: Uuid, slots: usize) -> usize {
    let (hi, lo) = id.as_u64_pair();
    // UUIDv7 puts the time in the high bits and randomness in the low ones; fold both.
    let mixed = (hi ^ lo.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as usize % slots
}

impl Generations {
    pub(crate) fn new() -> Self {
        Self {
            global: AtomicU64::new(0),
            apps: (0..APP_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            users: (0..USER_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn app_counter(&self, app: AppId) -> &AtomicU64 {
        &self.apps[slot(app.as_uuid(), APP_SLOTS)]
    }

    fn user_counter(&self, user: UserId) -> &AtomicU64 {
        &self.users[slot(user.as_uuid(), USER_SLOTS)]
    }

    /// The current stamp for an app (no user yet known).
    pub(crate) fn app_stamp(&self, app: AppId) -> Stamp {
        Stamp {
            global: self.global.load(Ordering::Acquire),
            app: self.app_counter(app).load(Ordering::Acquire),
            user: 0,
        }
    }

    /// `stamp` with the user's current generation filled in.
    pub(crate) fn with_user(&self, stamp: Stamp, user: UserId) -> Stamp {
        Stamp {
            user: self.user_counter(user).load(Ordering::Acquire),
            ..stamp
        }
    }

    /// Whether an entry of this app (and user, when given) built under `stamp` is current.
    pub(crate) fn is_current(&self, stamp: Stamp, app: AppId, user: Option<UserId>) -> bool {
        stamp.global == self.global.load(Ordering::Acquire)
            && stamp.app == self.app_counter(app).load(Ordering::Acquire)
            && user.is_none_or(|u| stamp.user == self.user_counter(u).load(Ordering::Acquire))
    }

    pub(crate) fn invalidate_user(&self, user: UserId) {
        self.user_counter(user).fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn invalidate_app(&self, app: AppId) {
        self.app_counter(app).fetch_add(1, Ordering::AcqRel);
    }

    /// Everything is stale: used when invalidations may have been missed.
    pub(crate) fn invalidate_everything(&self) {
        self.global.fetch_add(1, Ordering::AcqRel);
    }
}

const SHARDS: usize = 16;

/// A bounded map split into read-mostly shards. When a shard is full, entries that
/// `keep` rejects (stale or expired) are dropped first, then arbitrary ones.
pub(crate) struct ShardedCache<K, V> {
    shards: Box<[RwLock<HashMap<K, V>>]>,
    per_shard: usize,
}

impl<K: Hash + Eq + ShardKey, V: Clone> ShardedCache<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, key: &K) -> &RwLock<HashMap<K, V>> {
        &self.shards[key.shard() % SHARDS]
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let shard = self.shard(key).read().unwrap_or_else(|p| p.into_inner());
        shard.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: K, value: V, keep: impl Fn(&V) -> bool) {
        let mut shard = self.shard(&key).write().unwrap_or_else(|p| p.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, v| keep(v));
            if shard.len() >= self.per_shard {
                let excess = shard.len() + 1 - self.per_shard;
                let drop: Vec<K> = shard
                    .keys()
                    .take(excess.max(self.per_shard / 8))
                    .cloned()
                    .collect();
                for k in drop {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(key, value);
    }

    pub(crate) fn remove(&self, key: &K) {
        let mut shard = self.shard(key).write().unwrap_or_else(|p| p.into_inner());
        shard.remove(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// Which shard a key lives in; digests are uniform already, so their first bytes suffice.
pub(crate) trait ShardKey: Clone {
    fn shard(&self) -> usize;
}

/// A SHA-256 digest used as a cache key.
pub(crate) type Digest = [u8; 32];

impl ShardKey for Digest {
    fn shard(&self) -> usize {
        usize::from(self[0])
    }
}

impl ShardKey for AppId {
    fn shard(&self) -> usize {
        slot(self.as_uuid(), SHARDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_jwt_10_bumping_a_user_makes_only_that_users_entries_stale() {
        let generations = Generations::new();
        let (app, user, other) = (AppId::new(), UserId::new(), UserId::new());
        let stamp = generations.with_user(generations.app_stamp(app), user);
        let other_stamp = generations.with_user(generations.app_stamp(app), other);
        assert!(generations.is_current(stamp, app, Some(user)));
        generations.invalidate_user(user);
        assert!(!generations.is_current(stamp, app, Some(user)));
        // `other` could share the slot by chance; only assert when it does not.
        if slot(user.as_uuid(), USER_SLOTS) != slot(other.as_uuid(), USER_SLOTS) {
            assert!(generations.is_current(other_stamp, app, Some(other)));
        }
    }

    #[test]
    fn r_jwt_10_app_and_global_bumps_make_entries_stale() {
        let generations = Generations::new();
        let app = AppId::new();
        let stamp = generations.app_stamp(app);
        generations.invalidate_app(app);
        assert!(!generations.is_current(stamp, app, None));
        let stamp = generations.app_stamp(app);
        generations.invalidate_everything();
        assert!(!generations.is_current(stamp, app, None));
    }

    #[test]
    fn a_full_cache_stays_within_capacity_and_drops_rejected_entries_first() {
        let cache: ShardedCache<Digest, u32> = ShardedCache::new(SHARDS * 4);
        for i in 0..1000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            key[0] = (i % 16) as u8;
            cache.insert(key, i, |v| v % 2 == 0);
        }
        assert!(cache.len() <= SHARDS * 4, "{}", cache.len());
        let mut last = [0u8; 32];
        last[..4].copy_from_slice(&999u32.to_be_bytes());
        last[0] = (999 % 16) as u8;
        assert_eq!(cache.get(&last), Some(999));
    }
}
