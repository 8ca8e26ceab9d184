//! Helpers both adapters share: page sizes, constraint-violation tests, reading stored
//! enums, and de-duplicating a batch before a multi-row upsert.

use std::collections::HashMap;
use std::hash::Hash;

use alter_core::{EventSource, FieldError, UserStatus};

use crate::error::{StoreError, StoreResult};

/// A page size between 1 and 1000; 0 asks for the default of 100.
pub(crate) fn page_limit(limit: u32) -> i64 {
    if limit == 0 {
        100
    } else {
        i64::from(limit.min(1000))
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

pub(crate) fn corrupt(what: &str) -> impl FnOnce(FieldError) -> StoreError + '_ {
    move |err| StoreError::corrupt(what, err)
}

pub(crate) fn parse_status(value: &str) -> StoreResult<UserStatus> {
    UserStatus::parse("users.status", value).map_err(corrupt("user status"))
}

pub(crate) fn parse_source(column: &str, value: &str) -> StoreResult<EventSource> {
    EventSource::parse(column, value).map_err(corrupt("event source"))
}

/// The distinct items by `key`, in first-seen order, each replaced by its last occurrence
/// (a multi-row upsert may not touch the same row twice).
pub(crate) fn dedupe_last_wins<'a, T, K: Eq + Hash>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut position: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match position.get(&key(item)) {
            Some(&i) => {
                if let Some(slot) = out.get_mut(i) {
                    *slot = item;
                }
            }
            None => {
                position.insert(key(item), out.len());
                out.push(item);
            }
        }
    }
    out
}
