//! Identifiers. Ours are UUIDs; the identity provider's are opaque non-empty strings.
//! Each is a newtype whose `parse` is the only way in from untrusted input.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::error::FieldError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (time-ordered, v7) identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps a UUID that is already trusted (read from our own store).
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// Parses untrusted input; `field` names the request field in the error.
            pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
                let trimmed = input.trim();
                if trimmed.is_empty() {
                    return Err(FieldError::new(field, concat!("is required: give the ", $what, " as a UUID")));
                }
                Uuid::parse_str(trimmed).map(Self).map_err(|_| {
                    FieldError::new(field, format!(concat!("must be a UUID (the ", $what, "), got {:?}"), input))
                })
            }
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

uuid_id!(
    /// An app: one customer application and a hard isolation boundary.
    AppId, "app ID");
uuid_id!(
    /// The identity provider configured for an app.
    IdpId, "identity provider ID");
uuid_id!(
    /// Our canonical ID for an end user of an app.
    UserId, "user ID");
uuid_id!(
    /// Our canonical ID for a group (Okta group, Clerk organization).
    GroupId, "group ID");
uuid_id!(
    /// A grant binding a credential reference to a principal.
    GrantId, "grant ID");
uuid_id!(
    /// A directory-sync run.
    RunId, "directory run ID");
uuid_id!(
    /// A lifecycle or audit event.
    EventId, "event ID");

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Longest identifier accepted from a provider, in bytes.
            pub const MAX_LEN: usize = 512;

            pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
                if input.is_empty() {
                    return Err(FieldError::new(field, concat!("is empty: the ", $what, " must be a non-empty string")));
                }
                if input.len() > Self::MAX_LEN {
                    return Err(FieldError::new(
                        field,
                        format!(concat!("is {} bytes long: the ", $what, " may be at most {} bytes"), input.len(), Self::MAX_LEN),
                    ));
                }
                if input.chars().any(char::is_control) {
                    return Err(FieldError::new(field, concat!("contains control characters: the ", $what, " must be printable")));
                }
                Ok(Self(input.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

external_id!(
    /// The identity provider's subject for a user (the mapped user-ID claim: Auth0
    /// `auth0|…`, Clerk `user_…`, Okta `00u…`).
    ExternalUserId, "external user ID");
external_id!(
    /// The identity provider's ID (or, for name-keyed claims, name) of a group.
    ExternalGroupId, "external group ID");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_parse_and_name_the_field() {
        let id = AppId::new();
        assert_eq!(AppId::parse("app_id", &id.to_string()).unwrap(), id);
        let err = AppId::parse("app_id", "nope").unwrap_err();
        assert_eq!(err.field, "app_id");
        assert!(err.to_string().contains("must be a UUID"), "{err}");
        assert!(
            AppId::parse("app_id", "  ")
                .unwrap_err()
                .to_string()
                .contains("required")
        );
    }

    #[test]
    fn external_ids_reject_empty_long_and_control() {
        assert!(ExternalUserId::parse("sub", "auth0|123").is_ok());
        assert!(ExternalUserId::parse("sub", "").is_err());
        assert!(ExternalUserId::parse("sub", &"x".repeat(513)).is_err());
        assert!(ExternalUserId::parse("sub", "a\nb").is_err());
    }
}
