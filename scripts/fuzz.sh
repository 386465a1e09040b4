#!/usr/bin/env bash
# Run fuzz targets under libFuzzer, one after another, for a bounded time each:
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default 60 s, every target)
# FUZZ_ARGS adds libFuzzer flags (say FUZZ_ARGS=-len_control=0). Results: fuzz/artifacts/summary.md.
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a nightly toolchain (`cargo +nightly`);
# without nightly, RUSTC_BOOTSTRAP=1 lets stable take the sanitizer flags. A crash, hang or OOM
# leaves its input in fuzz/artifacts/TARGET/: minimise it (`cargo fuzz tmin TARGET FILE`), fix it,
# and copy it into fuzz/regressions/TARGET/ so `cargo test` keeps checking it. The regression
# folders are also each target's seed corpus. Too slow for CI: `cargo test` runs the kept inputs.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
all=(rules_parser breakpoint_parser session_reader dataset_loader settings_merge scenario_parser session_ops reply_parser keymap_file)
targets=("${@:-${all[@]}}")
if ! cargo fuzz --help >/dev/null 2>&1; then
  # Without cargo-fuzz: the bounded stand-in in `cargo test` (a few thousand generated inputs over
  # the same entry points, src/hardening.rs) and every kept input of fuzz/regressions/.
  echo "cargo-fuzz is not installed: running the bounded fuzz tests instead" >&2
  exec cargo test --release --test hardening -- bounded_fuzz kept_crash_inputs never_panic
fi
if cargo +nightly --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
# One build for every target, so the timed runs below time fuzzing only.
(cd fuzz && "${fuzz[@]}" build) || exit 2
mkdir -p fuzz/artifacts
summary=fuzz/artifacts/summary.md
[ -f "$summary" ] || printf '| target | seconds | executions | coverage | result |\n| --- | ---: | ---: | ---: | --- |\n' >"$summary"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  cp -n fuzz/regressions/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
  echo "== $t ($secs s)"
  log="fuzz/artifacts/$t.log"
  start=$SECONDS
  # -timeout: an input running past 20 s is a hang; -rss_limit_mb also caps one allocation.
  (cd fuzz && "${fuzz[@]}" run "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=4096 \
    -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 ${FUZZ_ARGS:-}) >"$log" 2>&1
  rc=$?
  took=$((SECONDS - start))
  execs=$(grep -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  if [ "$rc" = 0 ]; then
    result=clean
  else
    failed=1
    result="FOUND (exit $rc): $(grep -m1 -o 'ERROR: libFuzzer: [a-z-]*\|panicked at [^ ]*' "$log" | head -1) $(grep -o 'artifacts/[^ ]*' "$log" | tail -1)"
  fi
  echo "| $t | $took | ${execs:-?} | ${cov:-?} | $result |" | tee -a "$summary"
done
echo "summary: $summary; logs: fuzz/artifacts/TARGET.log"
exit "$failed"
