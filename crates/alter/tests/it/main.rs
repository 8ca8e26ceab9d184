//! The `alter` binary as an operator runs it: `alter serve` as a real process (probes,
//! SIGTERM), configuration errors, and the admin CLI against a served config-api.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod dev;
mod serve;
mod support;
