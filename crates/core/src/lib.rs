//! Alter's domain: identifiers, value types and every product rule, free of I/O so each
//! rule is unit-tested without servers.

pub mod error;
pub mod ids;
pub mod model;

pub use error::FieldError;
pub use ids::*;
pub use model::*;
