#!/usr/bin/env bash
# Idle memory of the daemon with N configured companies (default 100), each with two file
# connectors (einvoice_inbox + bank_dir) on empty folders.
#
#   bash tests/rss_idle.sh            # builds the release binary, N=100
#   N=500 RELANCE_BIN=target/release/relance bash tests/rss_idle.sh
#
# Starts the daemon on a generated configuration in a temporary directory (health/metrics on
# 127.0.0.1, a free port), waits for "ready", lets every company run its first cycle (the first
# cycles are spread over at most 10 s), reads VmRSS and VmHWM from /proc/<pid>/status, then
# stops it with SIGTERM and checks it exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100}
BIN=${RELANCE_BIN:-target/release/relance}
if [ -z "${RELANCE_BIN:-}" ]; then
    cargo build --release --bin relance >&2
fi
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/companies.d"
cat > "$work/relance.toml" <<TOML
version = 1
state_dir = "state"
listen = "127.0.0.1:0"
api = { listen = "127.0.0.1:0" }
log_format = "text"
TOML
for i in $(seq -w 1 "$N"); do
    cat > "$work/companies.d/c$i.toml" <<TOML
version = 1
id = "c$i"
name = "Company $i SAS"
poll_interval_secs = 300

[[sources]]
type = "einvoice_inbox"
name = "invoices"
path = "inbox/c$i/invoices"

[[sources]]
type = "bank_dir"
name = "bank"
path = "inbox/c$i/bank"
TOML
done
"$BIN" check-config --config "$work" | tail -1
RUST_LOG=info "$BIN" daemon --config "$work" 2> "$work/daemon.log" &
pid=$!
for _ in $(seq 1 600); do
    grep -q "ready companies=$N" "$work/daemon.log" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/daemon.log"; echo "daemon died" >&2; exit 1; }
    sleep 0.1
done
grep -q "ready companies=$N" "$work/daemon.log" || { cat "$work/daemon.log"; echo "not ready" >&2; exit 1; }
sleep 12
port=$(grep -o 'addr=127.0.0.1:[0-9]*' "$work/daemon.log" | head -1 | cut -d: -f2)
cycles=$(exec 3<>"/dev/tcp/127.0.0.1/$port"; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; grep -c '^relance_cycles_total{.*outcome="ok"}' <&3 || true)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"
status=0; wait "$pid" || status=$?
pid=
printf 'companies=%s companies_with_a_cycle=%s VmRSS=%s KiB (%.1f MiB) VmHWM=%s KiB (%.1f MiB) threads=%s exit=%s\n' \
    "$N" "$cycles" "$rss" "$(echo "$rss/1024" | bc -l)" "$hwm" "$(echo "$hwm/1024" | bc -l)" "$threads" "$status"
