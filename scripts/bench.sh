#!/usr/bin/env bash
# Runs every benchmark in the workspace (crates/*/benches) in release mode, one after the
# other so they do not compete for the two cores, and prints their summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
# Other work on the machine shows in every figure: say how busy it was.
echo "bench.sh: load average at start $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
# Load drivers start the release service binaries as child processes (the bench crate's own
# helpers, such as noop-verifier and bare-ingest, are built by `cargo bench`).
cargo build --release --locked -p alter-jwt-verifier -p alter-webhook-ingest -p alter-directory-sync
found=0
for dir in crates/*/benches; do
  [ -d "$dir" ] || continue
  crate=$(basename "$(dirname "$dir")")
  pkg=$(awk -F'"' '/^name = /{print $2; exit}' "crates/$crate/Cargo.toml")
  found=1
  echo "== $pkg =="
  cargo bench --locked -p "$pkg"
done
if [ "$found" = 0 ]; then
  echo "no benchmarks in this workspace yet (crates/*/benches)"
fi
echo "bench.sh: done in ${SECONDS} s; load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
