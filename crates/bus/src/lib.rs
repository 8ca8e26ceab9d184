//! alter-bus
