//! The one error every store call returns, shaped so callers can match on what went wrong
//! (missing, duplicate, conflicting) and turn it into a precise API answer.

/// A store failure. `what` names the thing and, where useful, the key that was looked for.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for (or one it references) does not exist in this app.
    #[error("{what} was not found in this app; check the ID and the app it belongs to")]
    NotFound { what: String },
    /// Creating the thing would break a uniqueness rule (e.g. a second IDP for an app, R-CFG-01).
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    /// The change is not allowed in the current state (e.g. claim mappings are locked).
    #[error("{reason}")]
    Conflict { reason: String },
    /// An input the database would reject (e.g. an app name too long); names the field.
    #[error("{0}")]
    Invalid(#[from] alter_core::FieldError),
    /// A row holds a value this version cannot read; the database was changed outside Alter.
    #[error("stored {what} is invalid: {reason}")]
    Corrupt { what: String, reason: String },
    /// The migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure (connection, timeout, unexpected constraint).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    pub(crate) fn already_exists(what: impl Into<String>) -> Self {
        Self::AlreadyExists { what: what.into() }
    }

    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        Self::Conflict {
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
