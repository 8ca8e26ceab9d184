//! alter-providers
