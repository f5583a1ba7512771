#!/usr/bin/env bash
# The private PostgreSQL cluster the PostgreSQL store is tested against, on 127.0.0.1 only.
#
#   bash tests/pg/server.sh setup     # install (Debian's postgresql) if missing, initdb, start
#   bash tests/pg/server.sh start     # start the existing cluster
#   bash tests/pg/server.sh stop      # stop it (fast shutdown)
#   bash tests/pg/server.sh restart   # stop then start (what the reconnection test does)
#   bash tests/pg/server.sh status    # running or not (exit 3 when not)
#   eval "$(bash tests/pg/server.sh env)"   # the variables the Rust tests read
#
# Variables printed by `env`:
#   RELANCE_PG_URL            postgres://relance@127.0.0.1:$PG_PORT/postgres (no password)
#   RELANCE_PG_PASSWORD_FILE  file holding the role's password (one line, mode 600)
#   RELANCE_PG_CTL            this script, so a test can restart the server
#   PG_HOME, PG_PORT          this cluster's, so that restart acts on this one and not another
# The role `relance` has CREATEDB: each test creates its own database and drops it after.
#
# Knobs: PG_HOME=/tmp/relance-pg  PG_PORT=25470  PG_DURABLE=1 (fsync and synchronous commits
# on, for benchmarks against sled; the tests run without, for speed). Requires root (the cluster runs as the
# 'postgres' user, as in tests/tryton/server.sh). Nothing is written outside $PG_HOME except
# what apt installs.
set -euo pipefail
HOME_DIR=${PG_HOME:-/tmp/relance-pg}
# Below the ephemeral range (32768+): a client socket can never hold the port on a restart.
PORT=${PG_PORT:-25470}
PGDATA=$HOME_DIR/data
PASSFILE=$HOME_DIR/relance.password
ROLE=relance
note() { printf '[pg] %s\n' "$*" >&2; }

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_postgres() { su postgres -s /bin/sh -c "$*"; }
running() { [ -f "$PGDATA/PG_VERSION" ] && as_postgres "$(pg_bindir)/pg_ctl -D $PGDATA status" >/dev/null 2>&1; }
up() {
    running && return 0
    # A throw-away test cluster: durability off for speed (the store's own crash tests kill
    # relance, not PostgreSQL). max_connections covers three instances' pools and the tests.
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${PG_DURABLE:-0}" = 1 ] && durability="-c fsync=on -c synchronous_commit=on"
    local try
    for try in 1 2 3 4 5; do
        if as_postgres "$(pg_bindir)/pg_ctl -D $PGDATA -l $PGDATA/postgres.log -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA $durability -c max_connections=200\" start" >/dev/null; then
            break
        fi
        [ "$try" = 5 ] && { tail -5 "$PGDATA/postgres.log" >&2; return 1; }
        sleep 1
    done
    note "PostgreSQL listening on 127.0.0.1:$PORT (data $PGDATA)"
}
down() {
    [ -n "$(pg_bindir)" ] && running || return 0
    as_postgres "$(pg_bindir)/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null 2>&1 || true
}
setup() {
    [ "$(id -u)" = 0 ] || { note "run as root (the cluster runs as 'postgres')"; exit 1; }
    if [ -z "$(pg_bindir)" ]; then
        note "apt-get install postgresql"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    [ -n "$(pg_bindir)" ] || { note "no PostgreSQL server binaries after apt-get"; exit 1; }
    install -d -m 755 "$HOME_DIR"
    if [ ! -s "$PASSFILE" ]; then
        (umask 077; printf 'relance-pg-%s\n' "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$PASSFILE")
    fi
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        rm -rf "$PGDATA"
        install -d -o postgres -g postgres "$PGDATA"
        # Local socket: trust (this script's admin work); TCP: passwords (what relance uses).
        as_postgres "$(pg_bindir)/initdb -D $PGDATA --auth-local=trust --auth-host=scram-sha-256 -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null"
    fi
    up
    local pw; pw=$(head -1 "$PASSFILE")
    as_postgres "$(pg_bindir)/psql -X -q -h $PGDATA -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1" <<SQL >/dev/null
SET client_min_messages = warning;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE $ROLE PASSWORD '$pw';
SQL
    # Databases left by interrupted test runs.
    for db in $(as_postgres "$(pg_bindir)/psql -X -At -h $PGDATA -p $PORT -U postgres -d postgres -c \"SELECT datname FROM pg_database WHERE datname LIKE 'relance\\_t\\_%'\""); do
        as_postgres "$(pg_bindir)/psql -X -q -h $PGDATA -p $PORT -U postgres -d postgres -c 'DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)'" >/dev/null 2>&1 || true
    done
}

case "${1:-}" in
    setup) setup ;;
    start) up ;;
    stop) down; note "stopped" ;;
    restart) down; up ;;
    status) if running; then echo "PostgreSQL running on 127.0.0.1:$PORT"; else echo "PostgreSQL not running"; exit 3; fi ;;
    env)
        cat <<VARS
export RELANCE_PG_URL=postgres://$ROLE@127.0.0.1:$PORT/postgres
export RELANCE_PG_PASSWORD_FILE=$PASSFILE
export RELANCE_PG_CTL=$(cd "$(dirname "$0")" && pwd)/server.sh
export PG_HOME=$HOME_DIR PG_PORT=$PORT
VARS
        ;;
    *) echo "usage: $0 setup|start|stop|restart|status|env" >&2; exit 2 ;;
esac
