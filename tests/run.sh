#!/usr/bin/env bash
# The whole test suite, as the README says: prepares what the tests talk to, then `cargo test`.
#
#   bash tests/run.sh            # everything; a peer that cannot be set up is skipped loudly
#   RELANCE_REQUIRE_PEERS=1 ...  # (CI) a peer that cannot be set up is a failure
#
# Peers, all on 127.0.0.1 only:
#   - a real Tryton 8.2 server with the French chart (tests/tryton/server.sh), for the Tryton
#     connector's integration tests (RELANCE_TRYTON_URL);
#   - a real SMTP server (Python aiosmtpd, started by the tests themselves);
#   - pdftotext (poppler-utils) to read back the PDF letters;
#   - headless Chromium and chromedriver (Debian's chromium, chromium-driver) for the web
#     console's browser tests (tests/it/console.rs, screenshots under target/console-screenshots);
#   - systemd-analyze, for the unit checks (verify, security exposure ≤ 2.0);
#   - a private PostgreSQL 15 cluster (tests/pg/server.sh, Debian's postgresql) for the
#     PostgreSQL store, its leases and the multi-instance tests (RELANCE_PG_URL).
# With RELANCE_REQUIRE_PEERS=1 a test whose peer is missing fails instead of skipping; with
# RELANCE_REQUIRE_CORPUS=1 so does a test whose reference corpus (../shared) is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
REQUIRE=${RELANCE_REQUIRE_PEERS:-0}
say() { printf '[tests/run.sh] %s\n' "$*" >&2; }
fail_or_skip() {
    if [ "$REQUIRE" = 1 ]; then say "FAILED: $*"; exit 1; fi
    say "SKIP: $* (the tests that need it will skip and say so)"
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

# pdftotext and pdftoppm, for the letter tests (text, layout and rendering).
if ! command -v pdftotext >/dev/null || ! command -v pdftoppm >/dev/null; then
    say "installing poppler-utils (pdftotext)"
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; } >/dev/null 2>&1 \
        || fail_or_skip "could not install poppler-utils"
fi

# systemd-analyze, to verify the units and score their exposure.
if ! command -v systemd-analyze >/dev/null; then
    say "installing systemd (systemd-analyze)"
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd; } >/dev/null 2>&1 \
        || fail_or_skip "could not install systemd (systemd-analyze)"
fi

# Headless Chromium and its WebDriver, for the web console's browser tests.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "installing chromium and chromium-driver"
    { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1 \
        || fail_or_skip "could not install chromium and chromium-driver"
fi

# aiosmtpd, the SMTP server the mail tests start on 127.0.0.1.
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    say "installing aiosmtpd (pip)"
    python3 -m pip install -q --disable-pip-version-check aiosmtpd >/dev/null 2>&1 \
        || python3 -m pip install -q --user --disable-pip-version-check aiosmtpd >/dev/null 2>&1 \
        || fail_or_skip "could not install aiosmtpd"
fi

# The real Tryton server.
if [ -z "${RELANCE_TRYTON_URL:-}" ] && [ "${RELANCE_SKIP_TRYTON:-0}" != 1 ]; then
    say "setting up the Tryton test server (tests/tryton/server.sh setup)"
    if bash tests/tryton/server.sh setup >&2; then
        eval "$(bash tests/tryton/server.sh env)"
    else
        fail_or_skip "the Tryton test server could not be set up"
    fi
fi

# The PostgreSQL test server (the store's second backend).
if [ -z "${RELANCE_PG_URL:-}" ] && [ "${RELANCE_SKIP_PG:-0}" != 1 ]; then
    say "setting up the PostgreSQL test server (tests/pg/server.sh setup)"
    if as_root bash tests/pg/server.sh setup >&2; then
        eval "$(bash tests/pg/server.sh env)"
        # Started here: stopped when the tests are done.
        trap 'as_root bash tests/pg/server.sh stop >&2 || true' EXIT
    else
        fail_or_skip "the PostgreSQL test server could not be set up"
    fi
fi

say "cargo test --workspace"
cargo test --workspace --locked 2>&1
status=$?
exit $status
