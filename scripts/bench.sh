#!/usr/bin/env bash
# Runs every benchmark in the workspace (crates/*/benches) in release mode, one after the
# other so they do not compete for the two cores, and prints their summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
# Load drivers start the release service binaries as child processes.
cargo build --release --locked -p alter-jwt-verifier
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
