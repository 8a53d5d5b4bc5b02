#!/usr/bin/env bash
# Outbound gRPC from a handler (issue 14): a proxy in the host (grpc.client) beside one in grpc-go.
#
#   bench/proxy.sh [--build-only]
#
# Proxies: host (bench/proxy-scripts/greeter.lua: SayHello calls the backend's SayHello with
# client:call, the client made once at the script's top level) and go (bench/peers/goproxy: a
# grpc-go Greeter calling the backend through one grpc.ClientConn made at start, the incoming
# call's context passed on). Each runs alone on the server core: the host with --workers 1,
# grpc-go with GOMAXPROCS=1. Both reply with the backend's reply, "Hello " + name.
#
# Parts (BENCH_PROXY_PARTS):
#   rate    the backend is bench/peers/go's greeter (grpc-go, GOMAXPROCS=1), pinned to the load
#           core beside h2load. Unary SayHello through the proxy at each h2load setting: req/s,
#           and the proxy's CPU per proxied call (utime + stime over the measured run / calls).
#           BENCH_ROUNDS rounds, the proxies taking turns; medians.
#   memory  the backend is goproxy -backend, holding each call BENCH_MEM_DELAY_MS. A fresh proxy;
#           RSS after one call; then BENCH_MEM_N calls at once: RSS once the backend holds them
#           all. Per outbound call in flight: the increase / BENCH_MEM_N.
#
# Environment, besides lib.sh's (defaults in brackets):
#   BENCH_PROXY_PARTS ["rate memory"]  BENCH_ROUNDS [3]
#   BENCH_SERVERS                 its words host and go, in order ["host go"]; others are left out
#   BENCH_N [100000]              calls per measured run (a tenth of it first as warm-up)
#   BENCH_PROXY_SETTINGS          h2load connections x streams ["1x100 8x32"]; 1x100 is the shape
#                                 of Function Compute's traffic (one connection, 100 streams)
#   BENCH_MEM_N [1000]  BENCH_MEM_DELAY_MS [3000]
#   BENCH_PORT [31154]  BENCH_BACKEND_PORT [31220] (and the port after it: the memory backend's
#                       /inflight)
set -euo pipefail
NAME=proxy.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${BENCH_PORT:-31154}
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

PARTS=${BENCH_PROXY_PARTS:-rate memory}
ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_N:-100000}
SETTINGS=${BENCH_PROXY_SETTINGS:-1x100 8x32}
MEM_N=${BENCH_MEM_N:-1000}
MEM_DELAY=${BENCH_MEM_DELAY_MS:-3000}
BACKEND_PORT=${BENCH_BACKEND_PORT:-31220}
STATUS_PORT=$((BACKEND_PORT + 1))
GREETER_BIN=$GO_BIN
GOPROXY_BIN=$BUILD/go/goproxy
BENCH_SCRIPTS=$BENCH_DIR/proxy-scripts
HOST_ARGS+=(--max-streams $((MEM_N + 1000)) --max-outbound $((MEM_N > 1000 ? MEM_N : 1000)))
export PROXY_TARGET=127.0.0.1:$BACKEND_PORT # the host's script reads it
GO_ARGS=(-target "$PROXY_TARGET")

need h2load "apt-get install -y nghttp2-client"
build_py
build_body
build_go
build_go_peer goproxy
[[ ${1:-} == --build-only ]] && exit 0
GO_BIN=$GOPROXY_BIN # start_server's "go"
[[ -z ${SKIP[python]:-} ]] || die "${SKIP[python]}"
SERVERS=$(tr ' ' '\n' <<<"${BENCH_SERVERS:-host go}" | grep -xE 'host|go' | tr '\n' ' ' || true)
[[ -n $SERVERS ]] || { log "$NAME: measures host and go only, and BENCH_SERVERS has neither"; exit 0; }
pick_servers

declare -A RPS CPU # name,setting -> one figure per round
rate() { # name round
  local s
  start_server "$1" "$SERVER_CPU" 1
  check_reply world "Hello world"
  for s in $SETTINGS; do
    measure_rate "$1-$s-$2" "${s%x*}" "${s#*x}" "$N" "$BODY" "Hello world"
    RPS[$1,$s]+=" $RATE"
    CPU[$1,$s]+=" $CPU_US"
    log "  $1 c${s%x*}m${s#*x} round $2: $RATE req/s, $CPU_US us CPU a call"
  done
  stop_server
}

declare -A MEM
memory() { # name
  start_server "$1" "$SERVER_CPU" 1
  check_reply world "Hello world"
  MEM[$1]=$(inflight_rss "$MEM_N" "http://127.0.0.1:$STATUS_PORT/inflight" "Hello world" world)
  log "  $1: ${MEM[$1]} (RSS kB)"
  stop_server
}

if [[ " $PARTS " == *" rate "* ]]; then
  start_backend "$BACKEND_PORT" env GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$GREETER_BIN" -port "$BACKEND_PORT"
  for ((round = 1; round <= ROUNDS; round++)); do
    wait_quiet
    log "round $round ($(others))"
    for name in "${RUN[@]}"; do rate "$name" "$round"; done
  done
  stop_backend

  printf '\nOutbound gRPC: SayHello through a proxy to a grpc-go greeter (medians of %s rounds)\n' "$ROUNDS"
  printf '%-8s %-6s %10s %8s %12s\n' setting proxy req/s spread "CPU us/call"
  for s in $SETTINGS; do
    label=c${s%x*}m${s#*x}
    for name in "${RUN[@]}"; do
      # shellcheck disable=SC2086
      rps=$(median ${RPS[$name,$s]}) sp=$(spread ${RPS[$name,$s]}) cpu=$(median ${CPU[$name,$s]})
      printf '%-8s %-6s %10.0f %8s %12s\n' "$label" "$name" "$rps" "$sp" "$cpu"
      record "proxy $label" req/s high "$name" "$(printf '%.0f' "$rps")"
      record "proxy $label CPU per call" us low "$name" "$cpu"
    done
    if [[ " ${RUN[*]} " == *" host "* && " ${RUN[*]} " == *" go "* ]]; then
      # shellcheck disable=SC2086
      printf 'host/go %s: req/s %s, CPU per call %s (go'"'"'s over the host'"'"'s: above 1x, the host spends less)\n' \
        "$label" "$(ratio "$(median ${RPS[host,$s]})" "$(median ${RPS[go,$s]})")" \
        "$(ratio "$(median ${CPU[go,$s]})" "$(median ${CPU[host,$s]})")"
    fi
  done
  printf '(proxy on core %s; h2load -n %s and the backend on core %s; h2load output in %s)\n' \
    "$SERVER_CPU" "$N" "$LOAD_CPU" "$LOG_DIR"
fi

if [[ " $PARTS " == *" memory "* ]]; then
  start_backend "$BACKEND_PORT" env GOMAXPROCS=1 taskset -c "$LOAD_CPU" "$GOPROXY_BIN" -backend \
    -port "$BACKEND_PORT" -delay "${MEM_DELAY}ms" -status-port "$STATUS_PORT"
  for name in "${RUN[@]}"; do memory "$name"; done
  stop_backend

  printf '\nMemory per outbound call in flight: %s calls at once, each held %s ms by the backend\n' "$MEM_N" "$MEM_DELAY"
  printf '%-6s %14s %18s %22s\n' proxy "RSS kB, 1 call" "RSS kB, in flight" "KB per call in flight"
  for name in "${RUN[@]}"; do
    base=$(kv base "${MEM[$name]}") fly=$(kv inflight "${MEM[$name]}")
    per=$(per_call "$base" "$fly" "$MEM_N")
    printf '%-6s %14s %18s %22s\n' "$name" "$base" "$fly" "$per"
    record "proxy memory per call in flight" KB low "$name" "$per"
  done
fi
