#!/usr/bin/env bash
# Cost growth: the token and flow figures with 1,000,000 accounts, 1,000,000 refresh tokens and
# 100,000 clients in the database, against the same server with the few rows a fresh seed has.
# SQLite; each mode runs DURATION per side; modes before and after alternate nothing else.
#
#   bench/growth.sh [DURATION]        (default 5s)
#
# Needs target/release/oidc-server and target/release/oidc-bench (cargo build --release -p
# oidc-server -p oidc-bench), python3 and sqlite3. Works in /tmp/iam-growth.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DUR=${1:-5s}
DIR=/tmp/iam-growth
PORT=${PORT:-8090}
MODES=(token-cc introspect code refresh)
rm -rf "$DIR"
export IAM_DATA_DIR=$DIR IAM_ISSUER=http://127.0.0.1:$PORT IAM_BIND=127.0.0.1:$PORT
OIDC_SERVER=$BIN/oidc-server "$ROOT/bench/seed-iam.sh" 8 >/dev/null
. "$DIR/client.env"

serve() {
  "$BIN/oidc-server" serve > "$DIR/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do curl -fs "$IAM_ISSUER/readyz" >/dev/null && return; sleep 0.1; done
  echo "the server did not start" >&2; exit 1
}
bench() {
  "$BIN/oidc-bench" --issuer "$IAM_ISSUER" --client-id "$BENCH_CLIENT_ID" \
    --client-secret "$BENCH_CLIENT_SECRET" --users "$DIR/users.csv" --duration "$DUR" --json "${MODES[@]}"
}
serve; bench > "$DIR/small.json"; kill "$SERVER"; wait "$SERVER" || true
python3 "$ROOT/bench/grow.py" "$DIR/iam.db"
serve; bench > "$DIR/large.json"; kill "$SERVER"; wait "$SERVER" || true
python3 - "$DIR/small.json" "$DIR/large.json" <<'PY'
import json, sys
small, large = (json.load(open(p)) for p in sys.argv[1:3])
print(f"{'mode':<12}{'small':>10}{'large':>10}{'large/small':>13}{'p99 small':>11}{'p99 large':>11}")
for s, l in zip(small["results"], large["results"]):
    ratio = l["rate"] / s["rate"] if s["rate"] else float("nan")
    print(f"{s['mode']:<12}{s['rate']:>10.0f}{l['rate']:>10.0f}{ratio:>13.2f}{s['p99_ms']:>11.2f}{l['p99_ms']:>11.2f}")
PY
