#!/usr/bin/env bash
# Run every fuzz target for a bounded time (default 60 s each). Needs cargo-fuzz
# (`cargo install cargo-fuzz`); on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use the sanitizer
# flags it needs. A crash leaves its input in fuzz/artifacts/TARGET/: copy it into
# fuzz/regressions/TARGET/ so `cargo test` keeps checking it. The regression folders are also each
# target's seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
if ! cargo fuzz --help >/dev/null 2>&1; then
  # Without cargo-fuzz: the bounded stand-in in `cargo test` (a few thousand generated inputs over
  # the same entry points, src/hardening.rs) and every kept input of fuzz/regressions/.
  echo "cargo-fuzz is not installed: running the bounded fuzz tests instead" >&2
  exec cargo test --release --test hardening -- bounded_fuzz kept_crash_inputs never_panic
fi
export RUSTC_BOOTSTRAP=1
for t in rules_parser breakpoint_parser session_reader dataset_loader settings_merge scenario_parser session_ops reply_parser keymap_file; do
  mkdir -p "fuzz/corpus/$t"
  cp -n fuzz/regressions/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
  echo "== $t ($secs s)"
  cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -max_len=4096 -rss_limit_mb=4096
done
