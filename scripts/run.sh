#!/usr/bin/env bash
# `make serve`: every service in one process (`alter serve`) against the local PostgreSQL and
# NATS, with a development admin token made on first use so the CLI works at once.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${ALTER_STATE_DIR:-$(pwd)/.local}"
mkdir -p "$state"
if [ ! -s "$state/admin-token" ]; then
  ./target/debug/alter secrets new-admin-token | awk '/^token:/{print $2}' > "$state/admin-token"
  chmod 600 "$state/admin-token"
fi
token=$(cat "$state/admin-token")
export ALTER_CONFIG="${ALTER_CONFIG:-deploy/alter.local.toml}"
export ALTER_CONFIG_API__ADMIN_TOKEN_HASHES="${ALTER_CONFIG_API__ADMIN_TOKEN_HASHES:-$(printf '%s\n' "$token" | ./target/debug/alter secrets hash-token)}"
cat <<TXT
Development admin token (kept in $state/admin-token); in another shell:
  export ALTER_ADMIN_TOKEN=$token
  ./target/debug/alter apps create "My app"
TXT
exec ./target/debug/alter serve
