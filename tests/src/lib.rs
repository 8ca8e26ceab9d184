//! End-to-end scenarios live in `scenarios/`; they run with `cargo test -p alter-e2e`.
