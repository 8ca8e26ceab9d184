//! Helpers both adapters share: page sizes, constraint-violation tests, reading stored
//! enums and rows, and de-duplicating a batch before a multi-row upsert.

use std::collections::HashMap;
use std::hash::Hash;

use alter_core::{EventSource, FieldError, UserStatus};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Postgres, Row, Sqlite, Type};

use crate::error::{StoreError, StoreResult};

/// A column value both adapters can decode (UUIDs, text, integers, booleans, times, bytes).
pub(crate) trait Stored:
    for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

impl<T> Stored for T where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

/// A row of either adapter read by column name, so that each aggregate's row decoder
/// (`crate::users::user_from_row`, …) is written once for both.
pub(crate) trait StoredRow {
    fn get<T: Stored>(&self, column: &str) -> StoreResult<T>;
}

impl StoredRow for PgRow {
    fn get<T: Stored>(&self, column: &str) -> StoreResult<T> {
        Ok(self.try_get(column)?)
    }
}

impl StoredRow for SqliteRow {
    fn get<T: Stored>(&self, column: &str) -> StoreResult<T> {
        Ok(self.try_get(column)?)
    }
}

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

/// `NotFound` naming `what` when `err` is a foreign-key violation (what the row refers to is
/// not in this app), else the database error itself.
pub(crate) fn not_found_if_fk(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    if is_foreign_key_violation(&err) {
        StoreError::not_found(what())
    } else {
        err.into()
    }
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

/// Maps a foreign-key violation (the row refers to something the app does not have) to
/// `NotFound` naming `what`, and any other error as it is: for `map_err` on a write.
pub(crate) fn missing_on_foreign_key(
    what: impl FnOnce() -> String,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| {
        if is_foreign_key_violation(&err) {
            StoreError::not_found(what())
        } else {
            err.into()
        }
    }
}
