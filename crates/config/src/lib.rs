//! alter-config
