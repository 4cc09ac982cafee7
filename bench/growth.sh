#!/usr/bin/env bash
# Cost growth: the token and flow figures of AHS IAM with 1,000,000 accounts, 1,000,000 refresh
# tokens and 100,000 clients in its SQLite database, against the same seed without them. Both
# servers run side by side and the modes alternate (small, large, small, large, ...), so that the
# machine's noise falls on both; medians of ROUNDS.
#
#   bench/growth.sh [DURATION] [ROUNDS]        (default 5s, 3)
#
# Needs target/release/oidc-server and target/release/oidc-bench (cargo build --release -p
# oidc-server -p oidc-bench; or BIN=dir), python3. Works in /tmp/iam-growth.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DUR=${1:-5s}
ROUNDS=${2:-3}
DIR=/tmp/iam-growth
read -r -a MODES <<< "${MODES:-token-cc introspect code refresh}"
rm -rf "$DIR" && mkdir -p "$DIR"
export IAM_DATA_DIR=$DIR/large IAM_ISSUER=http://127.0.0.1:8091 IAM_BIND=127.0.0.1:8091
OIDC_SERVER=$BIN/oidc-server "$ROOT/bench/seed-iam.sh" 8 >/dev/null
. "$DIR/large/client.env"

serve() { # DATA_DIR PORT
  IAM_DATA_DIR=$1 IAM_ISSUER=http://127.0.0.1:$2 IAM_BIND=127.0.0.1:$2 "$BIN/oidc-server" serve > "$1/serve.log" 2>&1 &
  echo $!
}
ready() { for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.1; done; exit 1; }
bench() { # PORT MODE
  "$BIN/oidc-bench" --issuer "http://127.0.0.1:$1" --client-id "$BENCH_CLIENT_ID" \
    --client-secret="$BENCH_CLIENT_SECRET" --users "$DIR/large/users.csv" --duration "$DUR" --json "$2"
}
# One refresh run puts a refresh token in the database for grow.py to copy.
PID=$(serve "$DIR/large" 8091); ready 8091
bench 8091 refresh > /dev/null; kill "$PID"; wait "$PID" 2>/dev/null || true
cp -r "$DIR/large" "$DIR/small"
python3 "$ROOT/bench/grow.py" "$DIR/large/iam.db"
SMALL=$(serve "$DIR/small" 8090); LARGE=$(serve "$DIR/large" 8091)
trap 'kill $SMALL $LARGE 2>/dev/null || true' EXIT
ready 8090; ready 8091
for r in $(seq 1 "$ROUNDS"); do
  for m in "${MODES[@]}"; do
    bench 8090 "$m" > "$DIR/small-$m-$r.json" || true
    bench 8091 "$m" > "$DIR/large-$m-$r.json" || true
  done
done
python3 - "$DIR" "$ROUNDS" "${MODES[@]}" <<'PY'
import json, statistics, sys
d, rounds, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def med(who, m, key):
    v = []
    for r in range(1, rounds + 1):
        try: v.append(json.load(open(f"{d}/{who}-{m}-{r}.json"))["results"][0][key])
        except Exception: pass
    return statistics.median(v) if v else 0.0
print(f"{'mode':<12}{'small':>9}{'large':>9}{'large/small':>13}{'p99 small':>11}{'p99 large':>11}")
for m in modes:
    s, l = med("small", m, "rate"), med("large", m, "rate")
    print(f"{m:<12}{s:>9.0f}{l:>9.0f}{(l / s if s else float('nan')):>13.2f}{med('small', m, 'p99_ms'):>11.2f}{med('large', m, 'p99_ms'):>11.2f}")
PY
