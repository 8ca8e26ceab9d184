//! alter-store
