#!/usr/bin/env bash
# Pull benchmark (not run by CI): the relance Tryton connector against a direct search_read loop
# (the floor), on a copy of the seeded database grown to $BENCH_INVOICES customer invoices.
#
#   bash tests/tryton/server.sh setup      # once
#   bash tests/tryton/bench.sh             # BENCH_INVOICES=10000 BENCH_PAGE=500
#   BENCH_PROFILE=release (default: dev profile)  BENCH_KEEP=1 (keep the scratch database)
#
# Growing: the extra invoices are SQL copies of the seeded posted invoices (new id and number,
# same party, amounts and accounting move), made in a scratch database ${TRYTON_DB}_bench
# cloned from the seed snapshot. Creating and posting 10 000 real invoices would take ~50 min
# (~0.3 s each, guide §5); reading a copy costs the server exactly what reading an original
# does (same stored columns, same lines to pay and amount-to-pay computation).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
eval "$(bash "$HERE/server.sh" env)"
HOME_DIR=${TRYTON_HOME:-/tmp/relance-tryton}
PG_PORT=${TRYTON_PG_PORT:-55469}
DB=$RELANCE_TRYTON_DB
BENCH_DB=${DB}_bench
N=${BENCH_INVOICES:-10000}
PAGE=${BENCH_PAGE:-500}
PSQL() { "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
export PGOPTIONS='-c client_min_messages=warning'

bash "$HERE/server.sh" status >/dev/null || { echo "server not running: bash tests/tryton/server.sh setup" >&2; exit 1; }
echo "== scratch database $BENCH_DB with $N customer invoices"
PSQL -d postgres -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" -c "CREATE DATABASE $BENCH_DB TEMPLATE ${DB}_seed"
COLS=$(PSQL -d "$BENCH_DB" -Atc "SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'account_invoice' AND column_name NOT IN ('id', 'number')")
PSQL -d "$BENCH_DB" <<SQL
INSERT INTO account_invoice ($COLS, number)
SELECT $COLS, number || '-B' || lpad(g::text, 5, '0')
FROM (SELECT * FROM account_invoice WHERE type = 'out' AND state IN ('posted', 'paid') AND number IS NOT NULL) i
CROSS JOIN generate_series(1, 1000) g
ORDER BY g, i.id
LIMIT greatest(0, $N - (SELECT count(*) FROM account_invoice WHERE type = 'out' AND number IS NOT NULL));
ANALYZE account_invoice;
SQL
echo "   $(PSQL -d "$BENCH_DB" -Atc "SELECT count(*) FROM account_invoice WHERE type = 'out' AND number IS NOT NULL") numbered customer invoices"

# trytond serves only the databases it loaded at start: restart it with the scratch one too,
# and back to normal on exit
TRYTON_EXTRA_DBS=$BENCH_DB bash "$HERE/server.sh" start
restore() {
    [ "${BENCH_KEEP:-0}" = 1 ] && return 0
    bash "$HERE/server.sh" start
    PSQL -d postgres -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)"
}
trap restore EXIT

echo "== floor: direct search_read loop (Python urllib, gzip, same fields, page $PAGE)"
"$HOME_DIR/venv/bin/python" - "$RELANCE_TRYTON_URL" "$BENCH_DB" "$RELANCE_TRYTON_USER" "$RELANCE_TRYTON_PASSWORD_FILE" "$PAGE" <<'PY'
import base64, gzip, json, sys, time, urllib.request
url, db, user, pwfile, page = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
password = open(pwfile).read().strip()
endpoint = f"{url}/{db}/rpc/"
auth = None
def call(method, params):
    req = urllib.request.Request(endpoint, json.dumps({"id": 1, "method": method, "params": params}).encode(),
        {"Content-Type": "application/json", "Accept-Encoding": "gzip"})
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req) as r:
        body = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    out = json.loads(body)
    if "error" in out:
        raise SystemExit(out["error"])
    return out["result"]
uid, session, _ = call("common.db.login", [user, {"password": password}, "fr"])
auth = "Session " + base64.b64encode(f"{user}:{uid}:{session}".encode()).decode()
company = call("model.res.user.get_preferences", [True, {}])["company"]
ctx = {"company": company, "companies": [company], "language": "fr", "with_payment": False}
domain = [["company", "=", company], ["type", "=", "out"], ["state", "in", ["posted", "paid", "cancelled"]], ["number", "!=", None]]
fields = ["number", "reference", "party", "invoice_date", "currency.code", "untaxed_amount", "tax_amount",
    "total_amount", "amount_to_pay", "state", "lines_to_pay", "last_modified_at", "type"]
# the first pass warms PostgreSQL's and trytond's caches (fresh database): not reported;
# "keyset" pages as the connector does (after the last (last_modified_at, id) seen, offset 0)
for with_lines in (None, False, True, "keyset"):
    start = time.monotonic(); n = 0; offset = 0; last = None
    while True:
        dom = domain
        if with_lines == "keyset" and last is not None:
            dom = domain + [["OR", ["last_modified_at", ">", last[0]],
                             [["last_modified_at", "=", last[0]], ["id", ">", last[1]]]]]
        rows = call("model.account.invoice.search_read", [dom, 0 if with_lines == "keyset" else offset, page,
                    [["last_modified_at", "ASC"], ["id", "ASC"]], fields, ctx])
        if rows:
            last = (rows[-1]["last_modified_at"], rows[-1]["id"])
        if with_lines:
            ids = [l for r in rows for l in r["lines_to_pay"]]
            if ids:
                call("model.account.move.line.search_read", [[["id", "in", ids]], 0, None, [["id", "ASC"]],
                    ["maturity_date", "debit", "credit", "second_currency", "amount_second_currency"], ctx])
        n += len(rows); offset += page
        if len(rows) < page:
            break
    secs = time.monotonic() - start
    if with_lines is None:
        continue
    what = {False: "invoices only", True: "invoices + lines to pay", "keyset": "invoices + lines to pay, keyset paging"}[with_lines]
    print(f"floor ({what}): {n} invoices in {secs:.2f} s, {n / secs:.0f} invoices/s")
PY

echo "== relance connector (cargo example tryton_pull_bench, ${BENCH_PROFILE:-dev} profile, page $PAGE)"
PROFILE_FLAG=()
[ "${BENCH_PROFILE:-dev}" = release ] && PROFILE_FLAG=(--release)
BENCH_DB=$BENCH_DB BENCH_PAGE=$PAGE cargo run -q "${PROFILE_FLAG[@]}" \
    --manifest-path "${BENCH_CARGO_DIR:-$ROOT}/Cargo.toml" -p relance-connectors --example tryton_pull_bench
