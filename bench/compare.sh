#!/usr/bin/env bash
# Side by side in one run: the reference provider (node-oidc-provider, ../shared/peer-node-oidc-provider)
# and AHS IAM (SQLite), each mode alternating reference / ours ROUNDS times, medians and ratios.
#
#   bench/compare.sh [DURATION] [ROUNDS]         (default 5s, 3)
#
# Environment: PEER_DIR (default /tmp/peer: a copy of the reference with `npm ci` done),
# BIN (default target/release), IAM_ACCESS_TOKEN_ALG / IAM_ID_TOKEN_ALG for ours (default RS256),
# MODES (default "discovery jwks token-cc introspect code refresh").
# Prints one table and ours' resident memory after the load; JSON per run in /tmp/iam-compare.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release}
DUR=${1:-5s}
ROUNDS=${2:-3}
PEER_DIR=${PEER_DIR:-/tmp/peer}
OUT=/tmp/iam-compare
read -r -a MODES <<< "${MODES:-discovery jwks token-cc introspect code refresh}"
rm -rf "$OUT" && mkdir -p "$OUT"

(cd "$PEER_DIR" && node server.js > "$OUT/peer.log" 2>&1) &
PEER=$!
export IAM_DATA_DIR=$OUT/iam IAM_ISSUER=http://127.0.0.1:8080 IAM_BIND=127.0.0.1:8080
OIDC_SERVER=$BIN/oidc-server "$ROOT/bench/seed-iam.sh" 8 >/dev/null
. "$IAM_DATA_DIR/client.env"
"$BIN/oidc-server" serve > "$OUT/iam.log" 2>&1 &
IAM=$!
trap 'kill $PEER $IAM 2>/dev/null || true' EXIT
for url in http://127.0.0.1:3000/.well-known/openid-configuration http://127.0.0.1:8080/readyz; do
  for _ in $(seq 1 100); do curl -fs "$url" >/dev/null && break; sleep 0.1; done
done

for round in $(seq 1 "$ROUNDS"); do
  for mode in "${MODES[@]}"; do
    "$BIN/oidc-bench" --issuer http://127.0.0.1:3000 --client-id bench-client --client-secret bench-secret \
      --refresh-authorize-param prompt=consent --duration "$DUR" --json "$mode" > "$OUT/peer-$mode-$round.json" || true
    "$BIN/oidc-bench" --issuer http://127.0.0.1:8080 --client-id "$BENCH_CLIENT_ID" \
      --client-secret="$BENCH_CLIENT_SECRET" --users "$IAM_DATA_DIR/users.csv" --duration "$DUR" \
      --json "$mode" > "$OUT/iam-$mode-$round.json" || true
  done
done
RSS=$(awk '/VmRSS/ {print $2}' /proc/$IAM/status)
python3 - "$OUT" "$ROUNDS" "$RSS" "${MODES[@]}" <<'PY'
import json, statistics, sys
out, rounds, rss, modes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
def load(who, mode):
    rates, p99s, errs = [], [], 0
    for r in range(1, rounds + 1):
        try:
            res = json.load(open(f"{out}/{who}-{mode}-{r}.json"))["results"][0]
        except Exception:
            continue
        rates.append(res["rate"]); p99s.append(res["p99_ms"]); errs += res["errors_total"]
    return (statistics.median(rates) if rates else 0.0, statistics.median(p99s) if p99s else 0.0, errs)
print(f"{'mode':<11}{'reference':>11}{'ours':>10}{'ratio':>8}{'p99 ref ms':>12}{'p99 ours ms':>13}{'errors':>8}")
for m in modes:
    (pr, pp, pe), (ir, ip, ie) = load("peer", m), load("iam", m)
    ratio = ir / pr if pr else float("nan")
    print(f"{m:<11}{pr:>11.0f}{ir:>10.0f}{ratio:>8.2f}{pp:>12.2f}{ip:>13.2f}{pe + ie:>8}")
print(f"AHS IAM resident memory after the load: {rss / 1024:.0f} MiB")
PY
