#!/usr/bin/env bash
# Makes sure the local PostgreSQL and NATS JetStream servers that `make test` and `make run`
# need are installed, running and answering. Safe to run any number of times.
#
#   scripts/services.sh up      install (apt, Debian) if missing, start if stopped, wait
#   scripts/services.sh env     print the environment the tests and services use
#
# Settings (environment): ALTER_PG_PORT (5432), ALTER_NATS_PORT (4222),
# ALTER_STATE_DIR (./.local) for the NATS data directory and logs.
set -euo pipefail

PG_PORT="${ALTER_PG_PORT:-5432}"
NATS_PORT="${ALTER_NATS_PORT:-4222}"
NATS_MONITOR_PORT="${ALTER_NATS_MONITOR_PORT:-8222}"
STATE_DIR="${ALTER_STATE_DIR:-$(pwd)/.local}"
PG_USER=alter
PG_PASSWORD=alter
PG_DB=alter

log() { printf '[services] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* : this is not a Debian/Ubuntu machine; install it yourself and re-run"
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name, check command...
  local name=$1; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$name did not answer within 20 s"; return 1
}

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(pg_version)" ]; then
    apt_install postgresql
  fi
  local ver; ver=$(pg_version)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$ver main$"; then
    log "creating PostgreSQL $ver cluster main on port $PG_PORT"
    as_root pg_createcluster "$ver" main -p "$PG_PORT" >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
    log "starting PostgreSQL $ver"
    as_root pg_ctlcluster "$ver" main start
  fi
  wait_for postgres as_postgres psql -p "$PG_PORT" -Atqc 'select 1'
  # A role that may create a database per test, and the project's own database.
  as_postgres psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -Atq >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  if ! as_postgres psql -p "$PG_PORT" -Atqc "select 1 from pg_database where datname='$PG_DB'" | grep -q 1; then
    as_postgres createdb -p "$PG_PORT" -O "$PG_USER" "$PG_DB"
  fi
  wait_for "postgres ($PG_USER over TCP)" env PGPASSWORD="$PG_PASSWORD" psql -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -Atqc 'select 1'
}

ensure_nats() {
  if ! command -v nats-server >/dev/null 2>&1; then
    apt_install nats-server
  fi
  if ! port_open "$NATS_PORT"; then
    mkdir -p "$STATE_DIR/nats"
    log "starting nats-server -js on port $NATS_PORT (data in $STATE_DIR/nats)"
    nohup nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -sd "$STATE_DIR/nats" \
      >"$STATE_DIR/nats.log" 2>&1 &
  fi
  # /healthz?js-enabled-only=true answers 200 once JetStream is up.
  wait_for nats bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_MONITOR_PORT && printf 'GET /healthz?js-enabled-only=true HTTP/1.0\r\n\r\n' >&3 && head -1 <&3 | grep -q 200"
}

print_env() {
  echo "export ALTER_TEST_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
  echo "export ALTER_TEST_NATS_URL=nats://127.0.0.1:$NATS_PORT"
}

case "${1:-up}" in
  up) ensure_postgres; ensure_nats; log "postgres :$PG_PORT and nats :$NATS_PORT are ready" ;;
  env) print_env ;;
  *) echo "usage: $0 up|env" >&2; exit 2 ;;
esac
