//! Integration tests of the sign-in service against the real servers and the simulator:
//! a browser with a cookie jar goes through each provider's real redirects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attacks;
mod browser;
mod flows;
mod support;
mod wallet;
