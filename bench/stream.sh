#!/usr/bin/env bash
# Streaming throughput of the host against the peers (issue 8).
#
#   bench/stream.sh [--build-only]
#
# Builds the peers and the load client (bench/load, grpc-go), then for each server in turn:
# starts it pinned to one core (the host with --scripts bench/scripts, whose greeter.lua streams
# x-count replies; grpc-go with GOMAXPROCS=1; the C++, grpc-js and Python peers, which do the same
# as greeter.lua; see lib.sh), runs the load client pinned to the other core for each kind (a
# warm-up of a tenth, then the measured run), stops it. Kinds, each one call on one connection:
#   stream  server streaming: SayHelloStreamReply with x-count N, N replies "Hello world #i"
#   client  client streaming: SayHelloClientStream with N requests, the server replies the count
#   bidi    SayHelloBidiStream ping-pong: send one, wait for its reply, N times
# Servers take turns round by round, so that drift in the machine's speed hits them alike. The
# table gives per kind and server the median rate over rounds, the best, the spread
# ((max-min)/median; a wide one means something else used the cores), the server's CPU use during
# the measured runs (100% = the server's core was saturated; below, the load client or the
# server's waits were the limit), and the host's ratio to each peer. It also prints what other
# jobs were doing before each server's turn: the 1-minute load average and the CPU use of the
# machine over one second (busy; ours idle at that moment).
#
# Environment, besides lib.sh's (defaults in brackets):
#   BENCH_KINDS       ["stream client bidi"]
#   BENCH_STREAM_N    [1000000]   BENCH_CLIENT_N [1000000]   BENCH_BIDI_N [100000]
#   BENCH_ROUNDS      [3]
set -euo pipefail
NAME=stream.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

KINDS=${BENCH_KINDS:-stream client bidi}
ROUNDS=${BENCH_ROUNDS:-3}
declare -A KIND_N=([stream]=${BENCH_STREAM_N:-1000000} [client]=${BENCH_CLIENT_N:-1000000} [bidi]=${BENCH_BIDI_N:-100000})
declare -A UNIT=([stream]="msg/s" [client]="msg/s" [bidi]="rt/s")
declare -A LABEL=([stream]="server streaming" [client]="client streaming" [bidi]="bidi ping-pong")

declare -A RATE CPU # name,kind -> values, one per round
LOADS=

measure() { # name kind round
  local name=$1 kind=$2 n=${KIND_N[$2]} out t0 t1 s0 s1 f=$LOG_DIR/$NAME-$1-$2-$3.out
  load "$kind" -addr "127.0.0.1:$PORT" -n $((n / 10)) >/dev/null || die "$name $kind: warm-up failed"
  t0=$(cpu_ticks)
  s0=$(date +%s%N)
  load "$kind" -addr "127.0.0.1:$PORT" -n "$n" >"$f" || die "$name $kind: load client failed"
  s1=$(date +%s%N)
  t1=$(cpu_ticks)
  out=$(<"$f")
  RATE[$name,$kind]+=" $(kv rate "$out")"
  CPU[$name,$kind]+=" $(awk -v t=$((t1 - t0)) -v hz="$(clk_tck)" -v ns=$((s1 - s0)) \
    'BEGIN { printf "%.0f", 100 * t / hz / (ns / 1e9) }')"
  log "    $kind: $out"
  kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during $kind"
}

main() {
  [[ $# -le 1 && ${1:---build-only} == --build-only ]] || die "usage: stream.sh [--build-only]"
  need taskset "apt-get install -y util-linux"
  build_all "${1:+all}"
  [[ ${1:-} == --build-only ]] && return 0
  [[ -f $BENCH_SCRIPTS/greeter.lua ]] || die "$BENCH_SCRIPTS/greeter.lua not found"
  pick_servers

  local name kind round
  for ((round = 1; round <= ROUNDS; round++)); do
    for name in "${RUN[@]}"; do
      local o
      wait_quiet
      o=$(others)
      LOADS+=" [$name $o]"
      log "round $round/$ROUNDS, $name on cpu $SERVER_CPU ($o)"
      start_server "$name" "$SERVER_CPU" 1
      for kind in $KINDS; do
        measure "$name" "$kind" "$round"
      done
      stop_server
    done
  done

  local pairs p
  pairs=$(ratio_pairs)
  printf '\nStreaming: load client (grpc-go, bench/load) on cpu %s, server on cpu %s; median of %s rounds\n' \
    "$LOAD_CPU" "$SERVER_CPU" "$ROUNDS"
  [[ " ${RUN[*]} " == *" host "* ]] &&
    printf 'host: %s --workers 1 --scripts %s --no-watch %s\n' "$HOST_BIN" "$BENCH_SCRIPTS" "${HOST_ARGS[*]}"
  printf '%-7s %9s %-6s %10s %10s %7s %8s' kind n server rate best spread "srv cpu"
  for p in $pairs; do printf ' %11s' "$p"; done
  printf '\n'
  for kind in $KINDS; do
    declare -A med=()
    for name in "${RUN[@]}"; do
      # shellcheck disable=SC2086
      med[$name]=$(median ${RATE[$name,$kind]})
      record "${LABEL[$kind]}, n ${KIND_N[$kind]}" "${UNIT[$kind]}" high "$name" "$(printf '%.0f' "${med[$name]}")"
    done
    for name in "${RUN[@]}"; do
      # shellcheck disable=SC2086
      printf '%-7s %9s %-6s %10.0f %10.0f %7s %7s%%' "$kind" "${KIND_N[$kind]}" "$name" "${med[$name]}" \
        "$(best ${RATE[$name,$kind]})" "$(spread ${RATE[$name,$kind]})" "$(median ${CPU[$name,$kind]})"
      ratio_cells "$name" "$pairs" med
      printf '\n'
    done
  done
  printf '(rate: %s for stream and client, round trips/s for bidi; srv cpu: the server'"'"'s CPU time over\n' "${UNIT[stream]}"
  printf ' the measured run'"'"'s wall time, median)\n'
  printf 'Before each server'"'"'s turn (1-min load average; busy: CPU use of all cores over 1 s, ours idle):\n'
  printf '%s\n' "$LOADS" | fold -s -w 100
}

main "$@"
