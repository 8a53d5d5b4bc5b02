#!/usr/bin/env bash
# The whole benchmark in one command (issue 8): the host against every peer, one table.
#
#   bench/run.sh                   # everything at each script's defaults: long (see the headers)
#   BENCH_QUICK=1 bench/run.sh     # smoke test: every size knob tiny (lib.sh), a minute or two
#
# Runs bench/unary.sh (the first request size, 10 B, at every h2load setting; the larger ones at
# 1 connection x 100 streams), bench/stream.sh, bench/footprint.sh, bench/cost.sh and
# bench/proxy.sh (host and go only: a proxy handler beside a grpc-go proxy) in turn. Each builds
# what it needs under build/bench (never in the source tree: the C++ and Go peers, the grpc-js
# peer's npm install, the Python stubs, the Go load client) and measures the servers one at a
# time, each pinned to core 0 with taskset and the load to core 1. Then this prints one table: a
# row per measurement (the scripts' medians over rounds; cost.sh's instructions per message), a
# column per server, and the ratios of BENCH_RATIOS (lib.sh): the host over the bare C core, C++,
# grpc-go..., and hostlog/host, what the per-call log lines cost. The scripts' own tables (best
# round, spread, server CPU, what other jobs did) are kept in build/bench/logs/run-SCRIPT.txt;
# their progress goes to stderr as they run.
#
# Environment (defaults in brackets); every other knob reaches the scripts unchanged, see their
# headers and lib.sh's: BENCH_SERVERS ["host hostlog core cpp go js python"], BENCH_RATIOS,
# BENCH_ROUNDS [3], BENCH_QUIET, BENCH_SIZES, BENCH_SETTINGS, BENCH_N, BENCH_KINDS,
# BENCH_STREAM_N, BENCH_PARTS, BENCH_COST_KINDS, BENCH_PROXY_PARTS, HOST_BIN, CORE_BIN, ...
#   BENCH_RUN     which scripts, in this order ["unary stream footprint cost proxy"]
#   BENCH_QUICK   1: tiny defaults for every size knob left unset (lib.sh lists them)
# A script that fails does not stop the others; run.sh then exits 1 after the table.
set -euo pipefail
NAME=run.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

SCRIPTS=${BENCH_RUN:-unary stream footprint cost proxy}

table() { # results file -> the combined table on stdout
  awk -F'\t' -v order="$SERVERS" -v ratios="$RATIOS" '
  function cell(k, s) { return ((k SUBSEP s) in val) ? val[k, s] : "-" }
  {
    if (!($1 in unit)) { rows[++nr] = $1; unit[$1] = $2; better[$1] = $3 }
    val[$1, $4] = $5; have[$4] = 1
  }
  END {
    if (nr == 0) { print "(no results)"; exit }
    ns = split(order, o, " ")
    for (i = 1; i <= ns; i++) if (o[i] in have) cols[++nc] = o[i]
    nr2 = split(ratios, rq, " ")
    for (i = 1; i <= nr2; i++) {
      split(rq[i], ab, "/")
      if ((ab[1] in have) && (ab[2] in have)) { pa[++np] = ab[1]; pb[np] = ab[2] }
    }
    w = 11; for (r = 1; r <= nr; r++) if (length(rows[r]) > w) w = length(rows[r])
    f = "%-" w "s"
    printf f " %-6s %-6s", "measurement", "unit", "better"
    for (c = 1; c <= nc; c++) printf " %9s", cols[c]
    for (i = 1; i <= np; i++) printf " %11s", pa[i] "/" pb[i]
    printf "\n"
    for (r = 1; r <= nr; r++) {
      k = rows[r]
      printf f " %-6s %-6s", k, unit[k], (better[k] == "high" ? "higher" : better[k] == "low" ? "lower" : "")
      for (c = 1; c <= nc; c++) printf " %9s", cell(k, cols[c])
      for (i = 1; i <= np; i++) {
        h = cell(k, pa[i]); p = cell(k, pb[i])
        if (better[k] == "-" || h == "-" || p == "-" || h + 0 <= 0 || p + 0 <= 0) s = "-"
        else s = sprintf("%.2fx", h / p)
        printf " %11s", s
      }
      printf "\n"
    }
  }' "$1"
}

main() {
  [[ $# -eq 0 ]] || die "usage: run.sh (knobs are environment variables: see the header)"
  local s rc failed=() t0=$SECONDS start commit
  export BENCH_RESULTS=$LOG_DIR/run-results.tsv
  : >"$BENCH_RESULTS"
  start=$(date -u '+%Y-%m-%d %H:%M UTC')
  commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
  for s in $SCRIPTS; do
    [[ -x $BENCH_DIR/$s.sh ]] || die "no bench/$s.sh (BENCH_RUN: unary stream footprint cost proxy)"
    log "== run.sh: $s.sh (its tables: $LOG_DIR/run-$s.txt)"
    rc=0
    "$BENCH_DIR/$s.sh" >"$LOG_DIR/run-$s.txt" || rc=$?
    if ((rc)); then
      log "== run.sh: $s.sh failed (exit $rc)"
      failed+=("$s.sh (exit $rc)")
    fi
  done

  printf '\nbench/run.sh, %s, %d s%s; repo %s; host %s\n' "$start" $((SECONDS - t0)) \
    "${BENCH_QUICK:+, BENCH_QUICK=$BENCH_QUICK (a smoke test: figures from tiny runs)}" "$commit" "$HOST_BIN"
  printf 'servers on cpu %s, load on cpu %s; medians over %s round(s); each script'"'"'s full tables: %s/run-*.txt\n\n' \
    "$SERVER_CPU" "$LOAD_CPU" "${BENCH_ROUNDS:-3}" "$LOG_DIR"
  table "$BENCH_RESULTS"
  printf '\nA/B: A'"'"'s figure over B'"'"'s (BENCH_RATIOS); above 1x is better for A where higher is better, below\n'
  printf '1x where lower is. host: --quiet; hostlog: the same host with its per-call log lines, so hostlog/host\n'
  printf 'is what logging costs; core: the bare C core, the ceiling. "-": not measured (see the scripts'"'"'\n'
  printf 'headers: e.g. hostlog is unary only, python has no idle streams, workers is host and go only) or no\n'
  printf 'ratio (growth: a difference near zero).\n'
  if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[*]}"
    return 1
  fi
}

main "$@"
