#!/usr/bin/env bash
# Drops databases and JetStream streams left behind by tests that failed before their cleanup
# ran (passing tests remove their own). Only names the test kit creates are touched.
set -euo pipefail
DB_URL="${ALTER_TEST_DATABASE_URL:-postgres://alter:alter@127.0.0.1:5432/alter}"
left=$(psql "$DB_URL" -Atqc "select datname from pg_database where datname like 'alter\_test\_%'" 2>/dev/null || true)
n=0
for db in $left; do
  psql "$DB_URL" -Atqc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 && n=$((n+1))
done
[ "$n" -gt 0 ] && echo "[cleanup] dropped $n test database(s) left by failed tests" || true
