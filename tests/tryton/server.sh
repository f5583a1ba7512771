#!/usr/bin/env bash
# The real Tryton 8.2 server the relance Tryton connector is tested against, on 127.0.0.1 only.
#
#   bash tests/tryton/server.sh setup    # from scratch, or reuse: venv, PostgreSQL cluster,
#                                        # database, French seed, snapshot, server started
#   bash tests/tryton/server.sh start    # (re)start trytond on the existing database
#   bash tests/tryton/server.sh stop     # stop trytond and the private PostgreSQL cluster
#   bash tests/tryton/server.sh reset    # back to the seeded snapshot, restarted (a few s)
#   bash tests/tryton/server.sh status   # running or not
#   eval "$(bash tests/tryton/server.sh env)"   # the variables the Rust tests read
#
# Variables printed by `env` (read by connectors/tests/tryton.rs and the compliance suite):
#   RELANCE_TRYTON_URL            http://127.0.0.1:$TRYTON_PORT  (no path, no database)
#   RELANCE_TRYTON_DB             database name
#   RELANCE_TRYTON_USER           login
#   RELANCE_TRYTON_PASSWORD_FILE  file holding the password (one line, mode 600)
#   RELANCE_TRYTON_TODAY          the fixed "today" the seed was built for
#
# Knobs (all optional):
#   TRYTON_HOME=/tmp/relance-tryton  TRYTON_DB=relance  TRYTON_PORT=8169  TRYTON_PG_PORT=55469
#   TRYTON_TODAY=2026-11-16 (the seed's "today": every seeded date is relative to it)
#   TRYTON_INVOICES=40  TRYTON_FORCE=1 (rebuild even when a matching seed exists)
#   TRYTON_EXTRA_DBS="db2 db3" (more databases to serve: trytond only serves those it loaded
#   at start, e.g. the benchmark's scratch database)
#
# Requires root (the cluster runs as the 'postgres' user), python3 >= 3.9, curl. Installs
# Debian's postgresql (15 on bookworm) with apt-get when no PostgreSQL server binaries exist.
# Nothing is written outside $TRYTON_HOME except what apt installs.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export PGOPTIONS='-c client_min_messages=warning'  # no NOTICEs from DROP ... IF EXISTS
HOME_DIR=${TRYTON_HOME:-/tmp/relance-tryton}
DB=${TRYTON_DB:-relance}
PORT=${TRYTON_PORT:-8169}
PG_PORT=${TRYTON_PG_PORT:-55469}
TODAY=${TRYTON_TODAY:-2026-11-16}
N_INVOICES=${TRYTON_INVOICES:-40}
USER_LOGIN=admin
VENV=$HOME_DIR/venv
PGDATA=$HOME_DIR/pg
ETC=$HOME_DIR/etc
CONF=$ETC/trytond.conf
PASSFILE=$ETC/admin.password
PIDFILE=$HOME_DIR/trytond.pid
LOG=$HOME_DIR/trytond.log
STAMP=$HOME_DIR/seed.stamp
MODULES="account_fr account_invoice account_payment account_statement account_dunning
account_dunning_fee account_dunning_letter party_siret"

T0=$(date +%s)
note() { printf '[tryton %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
step() {  # step LABEL CMD... : runs CMD and reports its duration
    local label=$1 t; shift; t=$(date +%s)
    "$@"
    note "$label ($(( $(date +%s) - t )) s)"
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
as_postgres() { su postgres -s /bin/sh -c "$*"; }
psql_admin() { "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }

pg_running() { [ -d "$PGDATA" ] && as_postgres "$(pg_bindir)/pg_ctl -D $PGDATA status" >/dev/null 2>&1; }
pg_up() {
    pg_running && return 0
    # fsync off: a throw-away test cluster, speed over durability.
    as_postgres "$(pg_bindir)/pg_ctl -D $PGDATA -l $PGDATA/postgres.log -w -o \"-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGDATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null
}
pg_down() {
    [ -n "$(pg_bindir)" ] && pg_running || return 0
    as_postgres "$(pg_bindir)/pg_ctl -D $PGDATA -m fast -w stop" >/dev/null 2>&1 || true
}

trytond_pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE" 2>/dev/null || true; }
trytond_running() { local p; p=$(trytond_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
trytond_down() {
    local p; p=$(trytond_pid)
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
        kill "$p"
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$PIDFILE"
}
version_ok() {
    curl -sf -m 2 -X POST "http://127.0.0.1:$PORT/rpc/" -H 'Content-Type: application/json' \
        -d '{"id":0,"method":"common.server.version","params":[]}' >/dev/null 2>&1
}
trytond_up() {
    trytond_down
    pg_up
    TRYTOND_CONFIG=$CONF nohup "$VENV/bin/trytond" -c "$CONF" -d "$DB" ${TRYTON_EXTRA_DBS:-} --pidfile "$PIDFILE" \
        >>"$LOG" 2>&1 </dev/null &
    for _ in $(seq 300); do
        if version_ok; then
            note "trytond listening on http://127.0.0.1:$PORT (database $DB, log $LOG)"
            return 0
        fi
        sleep 0.2
    done
    tail -30 "$LOG" >&2
    note "trytond did not answer"; exit 1
}

snapshot_take() {
    psql_admin -c "DROP DATABASE IF EXISTS ${DB}_seed" -c "CREATE DATABASE ${DB}_seed TEMPLATE $DB"
}
snapshot_restore() {
    pg_up
    psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB TEMPLATE ${DB}_seed"
}
snapshot_exists() {
    pg_up >/dev/null 2>&1 || return 1
    [ "$(psql_admin -Atc "SELECT count(*) FROM pg_database WHERE datname = '${DB}_seed'" 2>/dev/null)" = 1 ]
}

# What the seeded database depends on: a change in any of these rebuilds it.
wanted_stamp() {
    { cat "$HERE/requirements.txt" "$HERE/seed.py"; echo "$MODULES $TODAY $N_INVOICES $DB"; } \
        | sha256sum | cut -c1-16
}

write_config() {
    mkdir -p "$ETC" "$HOME_DIR/www-empty"
    # trytond's config parser has no inline comments: comments on their own lines.
    cat >"$CONF" <<EOF
[web]
listen = 127.0.0.1:$PORT
root = $HOME_DIR/www-empty

[database]
uri = postgresql://postgres@127.0.0.1:$PG_PORT/
list = True
language = en

[attachment]
filestore = False

[session]
# idle sessions live one hour; fresh_session methods (account.move.post) refuse older ones
timeout = 3600
# the tests log in often: no rate limiting of failed logins
max_attempt = 1000

[email]
uri = smtp://127.0.0.1:25
from = compta@relance-test.example
EOF
    if [ ! -s "$PASSFILE" ]; then
        (umask 077; printf 'relance-Tryton-%s\n' "$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" >"$PASSFILE")
    fi
}

ensure_postgresql() {
    if [ -z "$(pg_bindir)" ]; then
        step "apt-get install postgresql" sh -c \
            'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null'
    fi
    [ -n "$(pg_bindir)" ] || { note "no PostgreSQL server binaries after apt-get"; exit 1; }
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        rm -rf "$PGDATA"
        install -d -o postgres -g postgres "$PGDATA"
        step "initdb (private cluster 127.0.0.1:$PG_PORT)" as_postgres \
            "$(pg_bindir)/initdb -D $PGDATA -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null"
    fi
    pg_up
}

ensure_venv() {
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        # Debian splits venv/ensurepip out of python3
        step "apt-get install python3-venv" sh -c \
            'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null'
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        step "python venv" python3 -m venv "$VENV"
    fi
    if ! cmp -s "$HERE/requirements.txt" "$VENV/.relance-requirements" 2>/dev/null; then
        step "pip install (pinned)" "$VENV/bin/pip" install -q --disable-pip-version-check \
            -r "$HERE/requirements.txt"
        cp "$HERE/requirements.txt" "$VENV/.relance-requirements"
    fi
}

build_database() {
    psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${DB}_seed" \
        -c "CREATE DATABASE $DB"
    # shellcheck disable=SC2086
    step "trytond-admin: schema + modules" env TRYTONPASSFILE="$PASSFILE" \
        "$VENV/bin/trytond-admin" -c "$CONF" -d "$DB" -u $MODULES --activate-dependencies \
        --email admin@relance-test.example -v
    step "seed.py (today=$TODAY, $N_INVOICES invoices)" env TRYTOND_CONFIG="$CONF" \
        "$VENV/bin/python" "$HERE/seed.py" -d "$DB" --today "$TODAY" --invoices "$N_INVOICES"
    step "snapshot ${DB}_seed" snapshot_take
    wanted_stamp >"$STAMP"
}

print_env() {
    cat <<EOF
export RELANCE_TRYTON_URL=http://127.0.0.1:$PORT
export RELANCE_TRYTON_DB=$DB
export RELANCE_TRYTON_USER=$USER_LOGIN
export RELANCE_TRYTON_PASSWORD_FILE=$PASSFILE
export RELANCE_TRYTON_TODAY=$TODAY
EOF
}

case "${1:-}" in
    setup)
        command -v python3 >/dev/null || { note "python3 is required"; exit 1; }
        command -v curl >/dev/null || { note "curl is required"; exit 1; }
        [ "$(id -u)" = 0 ] || { note "run as root (private PostgreSQL cluster as 'postgres')"; exit 1; }
        mkdir -p "$HOME_DIR"
        write_config
        ensure_postgresql
        ensure_venv
        if [ "${TRYTON_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] \
                && [ "$(cat "$STAMP")" = "$(wanted_stamp)" ] && snapshot_exists; then
            trytond_down
            step "reuse: restore the seeded snapshot" snapshot_restore
        else
            trytond_down
            build_database
        fi
        step "start trytond" trytond_up
        note "setup done in $(( $(date +%s) - T0 )) s; eval \"\$(bash $0 env)\" for the test variables"
        ;;
    start) step "start trytond" trytond_up ;;
    stop) trytond_down; pg_down; note "stopped" ;;
    reset)
        trytond_down
        step "restore the seeded snapshot" snapshot_restore
        step "start trytond" trytond_up
        ;;
    status)
        if trytond_running && version_ok; then
            echo "trytond running (pid $(trytond_pid)) on http://127.0.0.1:$PORT, database $DB"
        else
            echo "trytond not running"; exit 3
        fi
        ;;
    env) print_env ;;
    *) echo "usage: $0 setup|start|stop|reset|status|env" >&2; exit 2 ;;
esac
