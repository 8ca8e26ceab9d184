//! Subject and stream names, all under one configurable prefix so that several deployments
//! or test runs share a NATS server without seeing each other's messages.
//!
//! The scheme, for a prefix `p` (empty in production, e.g. `t1f3a9.` in tests):
//!
//! | what                | name                               | transport          |
//! |---------------------|------------------------------------|--------------------|
//! | lifecycle event     | `<p>alter.lifecycle.<app_id>.<kind>` | stream `<P>ALTER_LIFECYCLE` |
//! | audit record        | `<p>alter.audit.<app_id>.<kind>`     | stream `<P>ALTER_AUDIT`     |
//! | cache invalidation  | `<p>alter.invalidate.<app_id>`       | core NATS (not stored)      |
//!
//! `<P>` is the prefix upper-cased with every character other than `A-Z`, `0-9`, `_` and `-`
//! replaced by `_` (stream names may not contain `.`): prefix `t1f3a9.` gives stream
//! `T1F3A9_ALTER_LIFECYCLE`. A non-empty prefix that does not end in `.` gets one appended,
//! so `staging` and `staging.` name the same subjects. `<kind>` is
//! [`LifecycleKind::subject_token`](alter_core::LifecycleKind::subject_token) (or
//! `grant_revoked` for audit records of revocations).

use alter_core::{AppId, FieldError};

use crate::error::BusError;

/// The two JetStream streams the bus owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `ALTER_LIFECYCLE`: user and group lifecycle events, consumed by grant-revoker.
    Lifecycle,
    /// `ALTER_AUDIT`: provisioning audit records, consumed by audit-writer.
    Audit,
}

impl StreamKind {
    pub const ALL: [StreamKind; 2] = [StreamKind::Lifecycle, StreamKind::Audit];
}

/// Every subject and stream name the bus uses, derived from one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusNames {
    prefix: String,
    stream_prefix: String,
}

impl BusNames {
    /// Validates `prefix` (empty, or dot-separated tokens of ASCII letters, digits, `_` and
    /// `-`) and derives the names; the error names `nats.prefix`.
    pub fn new(prefix: &str) -> Result<Self, BusError> {
        let trimmed = prefix.strip_suffix('.').unwrap_or(prefix);
        if trimmed.is_empty() {
            if prefix.is_empty() {
                return Ok(Self {
                    prefix: String::new(),
                    stream_prefix: String::new(),
                });
            }
            return Err(invalid_prefix(
                prefix,
                "is only a dot; leave it empty or give a name such as \"staging.\"",
            ));
        }
        for token in trimmed.split('.') {
            if token.is_empty() {
                return Err(invalid_prefix(
                    prefix,
                    "has an empty token (\"..\" or a leading \".\")",
                ));
            }
            if !token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid_prefix(
                    prefix,
                    "may contain only ASCII letters, digits, '_', '-' and '.' (it becomes part of subject and stream names)",
                ));
            }
        }
        let prefix = format!("{trimmed}.");
        let stream_prefix = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        Ok(Self {
            prefix,
            stream_prefix,
        })
    }

    /// The normalised subject prefix: empty, or ending in `.`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The JetStream stream name: `<P>ALTER_LIFECYCLE` or `<P>ALTER_AUDIT`.
    pub fn stream(&self, kind: StreamKind) -> String {
        match kind {
            StreamKind::Lifecycle => format!("{}ALTER_LIFECYCLE", self.stream_prefix),
            StreamKind::Audit => format!("{}ALTER_AUDIT", self.stream_prefix),
        }
    }

    /// The subjects a stream captures: `<p>alter.lifecycle.>` or `<p>alter.audit.>`.
    pub fn stream_subjects(&self, kind: StreamKind) -> String {
        format!("{}alter.{}.>", self.prefix, kind_token(kind))
    }

    /// `<p>alter.lifecycle.<app_id>.<kind>`.
    pub fn lifecycle_subject(&self, app_id: AppId, kind_token: &str) -> String {
        format!("{}alter.lifecycle.{app_id}.{kind_token}", self.prefix)
    }

    /// `<p>alter.audit.<app_id>.<kind>`.
    pub fn audit_subject(&self, app_id: AppId, kind_token: &str) -> String {
        format!("{}alter.audit.{app_id}.{kind_token}", self.prefix)
    }

    /// `<p>alter.invalidate.<app_id>`.
    pub fn invalidation_subject(&self, app_id: AppId) -> String {
        format!("{}alter.invalidate.{app_id}", self.prefix)
    }

    /// `<p>alter.invalidate.*`: every app's invalidations.
    pub fn invalidation_wildcard(&self) -> String {
        format!("{}alter.invalidate.*", self.prefix)
    }

    /// The app ID of an invalidation subject, if `subject` is one under this prefix.
    pub fn app_of_invalidation_subject(&self, subject: &str) -> Result<AppId, FieldError> {
        let app = subject
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix("alter.invalidate."))
            .ok_or_else(|| {
                FieldError::new(
                    "subject",
                    format!(
                        "{subject:?} is not an invalidation subject under prefix {:?}",
                        self.prefix
                    ),
                )
            })?;
        AppId::parse("subject.app_id", app)
    }
}

/// Checks a durable consumer name (the same rule for every adapter: JetStream's, which allows
/// no `.`, `*`, `>` or spaces); the error names `durable_name`.
pub(crate) fn validate_durable_name(name: &str) -> Result<(), BusError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(BusError::Config(FieldError::new(
            "durable_name",
            format!(
                "must be 1 to 64 ASCII letters, digits, '_' or '-' (e.g. \"grant-revoker\"); got {name:?}"
            ),
        )));
    }
    Ok(())
}

fn kind_token(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Lifecycle => "lifecycle",
        StreamKind::Audit => "audit",
    }
}

fn invalid_prefix(prefix: &str, why: &str) -> BusError {
    BusError::Config(FieldError::new(
        "nats.prefix",
        format!("{why}; got {prefix:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_prefix_gives_the_production_names() {
        let names = BusNames::new("").unwrap();
        let app = AppId::new();
        assert_eq!(names.stream(StreamKind::Lifecycle), "ALTER_LIFECYCLE");
        assert_eq!(names.stream(StreamKind::Audit), "ALTER_AUDIT");
        assert_eq!(
            names.stream_subjects(StreamKind::Lifecycle),
            "alter.lifecycle.>"
        );
        assert_eq!(
            names.lifecycle_subject(app, "user_suspended"),
            format!("alter.lifecycle.{app}.user_suspended")
        );
        assert_eq!(
            names.audit_subject(app, "grant_revoked"),
            format!("alter.audit.{app}.grant_revoked")
        );
        assert_eq!(
            names.invalidation_subject(app),
            format!("alter.invalidate.{app}")
        );
        assert_eq!(names.invalidation_wildcard(), "alter.invalidate.*");
    }

    #[test]
    fn prefix_is_prepended_and_sanitised_for_streams() {
        let names = BusNames::new("t1a-b.x").unwrap();
        assert_eq!(names.prefix(), "t1a-b.x.");
        assert_eq!(
            names.stream(StreamKind::Lifecycle),
            "T1A-B_X_ALTER_LIFECYCLE"
        );
        assert_eq!(
            names.stream_subjects(StreamKind::Audit),
            "t1a-b.x.alter.audit.>"
        );
        assert_eq!(BusNames::new("t9.").unwrap(), BusNames::new("t9").unwrap());
    }

    #[test]
    fn bad_prefixes_name_the_setting() {
        for bad in [".", "a..b", ".a", "a b", "a*", "a>", "ü"] {
            let err = BusNames::new(bad).unwrap_err();
            assert!(
                matches!(&err, BusError::Config(e) if e.field == "nats.prefix"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn invalidation_subject_round_trips_the_app() {
        let names = BusNames::new("t1.").unwrap();
        let app = AppId::new();
        assert_eq!(
            names
                .app_of_invalidation_subject(&names.invalidation_subject(app))
                .unwrap(),
            app
        );
        assert!(
            names
                .app_of_invalidation_subject("t2.alter.invalidate.x")
                .is_err()
        );
        assert_eq!(
            names
                .app_of_invalidation_subject("t1.alter.invalidate.nope")
                .unwrap_err()
                .field,
            "subject.app_id"
        );
    }

    #[test]
    fn durable_names_are_checked() {
        assert!(validate_durable_name(crate::consumers::GRANT_REVOKER).is_ok());
        assert!(validate_durable_name(crate::consumers::AUDIT_WRITER).is_ok());
        for bad in ["", "a.b", "a b", "a*", &"x".repeat(65)] {
            let err = validate_durable_name(bad).unwrap_err();
            assert!(
                matches!(&err, BusError::Config(e) if e.field == "durable_name"),
                "{bad:?}"
            );
        }
    }
}
