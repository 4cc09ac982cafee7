#!/usr/bin/env bash
# Runs every fuzz target (or those named) for a bounded time each, on the stable toolchain, growing
# the corpus in corpus/<target>/. A crash stops the run: exit 1, the input in
# artifacts/<target>/crash-*; replay it with `cargo fuzz run --sanitizer none TARGET FILE`, fix,
# and copy the input into corpus/<target>/ so that the corpus replay test
# (oidc_core::fuzzing::tests, run by `cargo test`) keeps it fixed.
#
#   fuzz/run.sh                      every target, 60 s each
#   FUZZ_SECONDS=600 fuzz/run.sh     longer
#   fuzz/run.sh token_request        one target
#   FUZZ_CMIN=1 fuzz/run.sh          then minimise each corpus (cargo fuzz cmin) before committing it
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Without AddressSanitizer (no nightly
# needed): the code is safe Rust, and panics, overflows (debug assertions are on) and timeouts are
# what is hunted.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +stable fuzz list)
fi

# Debug assertions catch arithmetic overflow; -O keeps the executions per second up.
flags=(--sanitizer none --debug-assertions)
cargo +stable fuzz build "${flags[@]}"

mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== $t: ${seconds}s"
  # -max_len 65536: the provider refuses larger request bodies (http::MAX_BODY_BYTES).
  status=0
  cargo +stable fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"logs/$t.log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|Done )|panicked' "logs/$t.log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 30 "logs/$t.log" >&2
    echo "!! $t failed (exit $status): see fuzz/logs/$t.log and fuzz/artifacts/$t/" >&2
    exit 1
  fi
  if [ "${FUZZ_CMIN:-0}" = 1 ]; then
    # Edges only (no hit counters): the corpus stays a few hundred small files in the repository.
    cargo +stable fuzz cmin "${flags[@]}" "$t" "corpus/$t" -- -use_counters=0 >/dev/null 2>&1
  fi
done
