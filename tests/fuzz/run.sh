#!/usr/bin/env bash
# Runs every fuzz target of a build directory for a bounded time; exit 1 if any crashed.
#   tests/fuzz/run.sh [BUILD_DIR] [SECONDS_PER_TARGET]     (defaults: build-fuzz, 15)
# First replays tests/fuzz/regressions/<target>/ (inputs that once crashed), then fuzzes from
# the seed corpus tests/fuzz/corpus/<target>/ plus what earlier runs found (kept in
# BUILD_DIR/fuzz-corpus/, so the checked-in seeds stay as they are). Crashes are written
# to BUILD_DIR/fuzz-artifacts/. See tests/fuzz/README.md for longer runs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build-fuzz}
seconds=${2:-15}
targets=(decode roundtrip schema encode json)
failed=()
mkdir -p "$build/fuzz-artifacts"
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing (cmake --build $build --target fuzz)" >&2
    exit 2
  fi
  work="$build/fuzz-corpus/$t"
  mkdir -p "$work"
  log="$build/fuzz-artifacts/$t.log"
  if [ -d "$here/regressions/$t" ] && ! "$bin" "$here/regressions/$t"/* >"$log.regressions" 2>&1; then
    echo "fuzz_$t: a regression input crashes again; see $log.regressions"
    grep -E "^fuzz:|SUMMARY|ERROR" "$log.regressions" | head -5
    failed+=("$t (regression)")
  fi
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$')
  if [ $rc -ne 0 ]; then
    echo "fuzz_$t: CRASH after ${execs:-?} executions; see $log and $build/fuzz-artifacts/"
    grep -E "^fuzz:|SUMMARY|ERROR" "$log" | head -5
    failed+=("$t")
  else
    echo "fuzz_$t: ${execs:-?} executions in ${seconds}s, no crash"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
