#!/usr/bin/env bash
# Outbound HTTP from a handler (issue 14): the host's http.request beside grpc-go with net/http.
#
#   bench/http.sh [--build-only]
#
# Servers: host (bench/http-scripts/greeter.lua) and go (bench/peers/gohttp): SayHello GETs the
# URL in its request's name on a kept-alive connection and replies "Hello " + the body. The HTTP
# backend is net/http (gohttp -backend), pinned to the load core beside h2load.
#
# Parts:
#   rate    unary SayHello through to one backend URL, h2load -c 1 -m 100 on the load core, the
#           server pinned to the other with one worker (GOMAXPROCS=1): req/s, and the server's CPU
#           per proxied call (utime + stime over the measured run / calls). BENCH_ROUNDS rounds,
#           servers taking turns; medians.
#   memory  a fresh server; RSS after one call; then BENCH_MEM_N calls at once, each GETting
#           /delay?ms=BENCH_MEM_DELAY_MS of one of 16 backend ports (so each needs a connection of
#           its own): RSS while all are in flight (per request in flight: the increase / N), and
#           RSS once all are answered, their connections idle in the pool (per idle connection:
#           the increase / N; an upper bound, as it includes what the allocator keeps of the
#           calls' freed memory).
#
# Environment, besides lib.sh's (defaults in brackets):
#   BENCH_ROUNDS [3]  BENCH_N [100000] calls per measured rate run (a tenth first as warm-up)
#   BENCH_MEM_N [1000]  BENCH_MEM_DELAY_MS [3000]  BENCH_BACKEND_PORT [31200] (and the 15 after)
#   BENCH_PORT [31153]
set -euo pipefail
NAME=http.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${BENCH_PORT:-31153}
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

BENCH_SCRIPTS=$BENCH_DIR/http-scripts
HOST_ARGS+=(--max-streams 2000)
GOHTTP_BIN=$BUILD/go/gohttp
ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_N:-100000}
MEM_N=${BENCH_MEM_N:-1000}
MEM_DELAY=${BENCH_MEM_DELAY_MS:-3000}
BACKEND_PORT=${BENCH_BACKEND_PORT:-31200}
BACKEND_PORTS=$(seq -s, "$BACKEND_PORT" $((BACKEND_PORT + 15)))
URL=http://127.0.0.1:$BACKEND_PORT/
HTTP_BODY=$BUILD/sayhello-url.bin

build_http_body() { # a framed HelloRequest{name: URL}: h2load's request
  "$PYTHON" - "$URL" "$HTTP_BODY" <<'PY'
import struct, sys
m = b"\x0a" + bytes([len(sys.argv[1])]) + sys.argv[1].encode()
with open(sys.argv[2], "wb") as f:
    f.write(b"\x00" + struct.pack(">I", len(m)) + m)
PY
}

need h2load "apt-get install -y nghttp2-client"
build_py
build_go_peer gohttp
build_http_body
[[ ${1:-} == --build-only ]] && exit 0
GO_BIN=$GOHTTP_BIN # start_server's "go"
SERVERS=${BENCH_SERVERS:-host go}
pick_servers

start_backend "$BACKEND_PORT" taskset -c "$LOAD_CPU" "$GOHTTP_BIN" -backend -ports "$BACKEND_PORTS"

declare -A RPS CPU
rate() { # name round
  start_server "$1" "$SERVER_CPU" 1
  check_reply "$URL" "Hello ok"
  measure_rate "$1-$2" 1 100 "$N" "$HTTP_BODY" "Hello ok"
  RPS[$1]+=" $RATE"
  CPU[$1]+=" $CPU_US"
  log "  $1 round $2: $RATE req/s"
  stop_server
}

declare -A MEM
memory() { # name
  local urls=() i
  for ((i = 0; i < 16; i++)); do urls+=("http://127.0.0.1:$((BACKEND_PORT + i))/delay?ms=$MEM_DELAY"); done
  start_server "$1" "$SERVER_CPU" 1
  check_reply "$URL" "Hello ok"
  MEM[$1]=$(inflight_rss "$MEM_N" "http://127.0.0.1:$BACKEND_PORT/inflight" "Hello ok" "${urls[@]}")
  log "  $1: ${MEM[$1]} (RSS kB)"
  stop_server
}

for ((round = 1; round <= ROUNDS; round++)); do
  wait_quiet
  log "round $round ($(others))"
  for name in "${RUN[@]}"; do rate "$name" "$round"; done
done
for name in "${RUN[@]}"; do memory "$name"; done

printf '\nOutbound HTTP: SayHello -> one keep-alive GET of a net/http backend (medians of %s rounds)\n' "$ROUNDS"
printf '%-6s %10s %8s %14s %18s %18s\n' server req/s spread "CPU us/call" "KB/request in flight" "KB/idle connection"
for name in "${RUN[@]}"; do
  # shellcheck disable=SC2086
  rps=$(median ${RPS[$name]}) cpu=$(median ${CPU[$name]})
  base=$(kv base "${MEM[$name]}") fly=$(kv inflight "${MEM[$name]}") idle=$(kv idle "${MEM[$name]}")
  printf '%-6s %10.0f %8s %14s %18s %18s\n' "$name" "$rps" "$(spread ${RPS[$name]})" "$cpu" \
    "$(per_call "$base" "$fly" "$MEM_N")" "$(per_call "$base" "$idle" "$MEM_N")"
  record "http GET per call" req/s high "$name" "$(printf '%.0f' "$rps")"
  record "http CPU per call" us low "$name" "$cpu"
done
if [[ " ${RUN[*]} " == *" host "* && " ${RUN[*]} " == *" go "* ]]; then
  # shellcheck disable=SC2086
  printf 'host/go: req/s %s, CPU per call %s\n' "$(ratio "$(median ${RPS[host]})" "$(median ${RPS[go]})")" \
    "$(ratio "$(median ${CPU[go]})" "$(median ${CPU[host]})")"
fi
printf '(server on core %s, h2load -c 1 -m 100 -n %s and the backend on core %s; memory: %s requests at once\n' \
  "$SERVER_CPU" "$N" "$LOAD_CPU" "$MEM_N"
printf ' to 16 backend ports, RSS increase / requests; logs in %s)\n' "$LOG_DIR"
