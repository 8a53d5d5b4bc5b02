#!/usr/bin/env bash
# HTTP/1.1 on the host's port (issue 19): Connect JSON unary over kept-alive HTTP/1.1 connections,
# beside the host's own gRPC unary and beside @connectrpc/connect-node with the same handler.
#
#   bench/web.sh
#
# Each server pinned to one core with one worker, h2load on the other:
#   host connect   SayHello as Connect JSON (POST, content-type application/json), h2load --h1,
#                  BENCH_WEB_CONNS connections each with one request at a time (HTTP/1.1 has no
#                  multiplexing; the host refuses pipelining)
#   host grpc      SayHello over h2c, h2load with 1 connection x BENCH_WEB_CONNS streams
#   connect-node   the Connect JSON run against bench/peers/js/connect.js (node's http server)
# BENCH_ROUNDS rounds, servers taking turns; medians of req/s, and their spread.
#
# Environment, besides lib.sh's (defaults in brackets):
#   BENCH_ROUNDS [3]  BENCH_N [50000] requests a run (a tenth first, as warm-up)
#   BENCH_WEB_CONNS [10]  BENCH_PORT [31156] (the host's one port)  BENCH_WEB_PORT [31157] (connect-node's)
set -euo pipefail
NAME=web.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${BENCH_PORT:-31156}
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_N:-50000}
CONNS=${BENCH_WEB_CONNS:-10}
WEB_PORT=${BENCH_WEB_PORT:-31157}
JSON_BODY=$BUILD/sayhello.json

need h2load "apt-get install nghttp2-client"
build_body
build_js
printf '{"name":"world"}' >"$JSON_BODY"

# h2load ... -> req/s of its run (its "finished in" line), or nothing when a request failed.
h2load_rate() {
  local out
  out=$(taskset -c "$LOAD_CPU" h2load "$@" 2>&1) || true
  grep -q '0 failed, 0 errored' <<<"$out" || { log "h2load: $(grep -E 'requests:|status codes' <<<"$out")"; return 0; }
  awk '/^finished in/ { gsub(",", "", $4); print $4 }' <<<"$out"
}

connect_run() { # port n
  h2load_rate --h1 -n "$2" -c "$CONNS" -m 1 -H 'content-type: application/json' -d "$JSON_BODY" \
    "http://127.0.0.1:$1/helloworld.Greeter/SayHello"
}

grpc_run() { # port n
  h2load_rate -n "$2" -c 1 -m "$CONNS" -H 'content-type: application/grpc' -H 'te: trailers' -d "$BODY" \
    "http://127.0.0.1:$1/helloworld.Greeter/SayHello"
}

start_connect_node() {
  SERVER_NAME=connect-node
  env NODE_PATH="$JS_DIR/node_modules" taskset -c "$SERVER_CPU" node "$BENCH_DIR/peers/js/connect.js" \
    --port "$WEB_PORT" --protoset "$HOST_PROTOSET" >"$LOG_DIR/$NAME-connect-node.log" 2>&1 &
  SERVER_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    port_open "$WEB_PORT" && return 0
    sleep 0.05
  done
  die "connect-node not ready on port $WEB_PORT"
}

declare -a HOST_CONNECT=() HOST_GRPC=() NODE_CONNECT=()
for ((r = 1; r <= ROUNDS; r++)); do
  log "round $r of $ROUNDS ($(others))"
  start_server host "$SERVER_CPU" 1
  connect_run "$PORT" $((N / 10)) >/dev/null
  HOST_CONNECT+=("$(connect_run "$PORT" "$N")")
  grpc_run "$PORT" $((N / 10)) >/dev/null
  HOST_GRPC+=("$(grpc_run "$PORT" "$N")")
  stop_server
  if [[ -z ${SKIP[js]:-} ]]; then
    start_connect_node
    connect_run "$WEB_PORT" $((N / 10)) >/dev/null
    NODE_CONNECT+=("$(connect_run "$WEB_PORT" "$N")")
    stop_server
  fi
done

hc=$(median "${HOST_CONNECT[@]}")
hg=$(median "${HOST_GRPC[@]}")
nc=$( ((${#NODE_CONNECT[@]})) && median "${NODE_CONNECT[@]}" || true)
printf '\n| unary SayHello, %d connections / streams | req/s | spread | vs host connect |\n' "$CONNS"
printf '|---|---|---|---|\n'
printf '| host, Connect JSON over HTTP/1.1 | %.0f | %s | 1.00x |\n' "$hc" "$(spread "${HOST_CONNECT[@]}")"
printf '| host, gRPC over h2c | %.0f | %s | %s |\n' "$hg" "$(spread "${HOST_GRPC[@]}")" "$(ratio "$hg" "$hc")"
if [[ -n $nc ]]; then
  printf '| connect-node %s, Connect JSON over HTTP/1.1 | %.0f | %s | %s |\n' "2.0.4" "$nc" \
    "$(spread "${NODE_CONNECT[@]}")" "$(ratio "$nc" "$hc")"
else
  printf '| connect-node | skipped: %s | | |\n' "${SKIP[js]}"
fi
record "Connect JSON unary, HTTP/1.1" req/s high host "$hc"
record "Connect JSON unary, HTTP/1.1" req/s high connect-node "$nc"
