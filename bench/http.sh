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
BACKEND_PID=

build_gohttp() {
  local src=$BENCH_DIR/peers/gohttp
  build_go # its GOPATH, with the stubs
  up_to_date "$GOHTTP_BIN" "$src/main.go" && return 0
  log "building $GOHTTP_BIN"
  (cd "$src" && "${GOENV[@]}" go build -o "$GOHTTP_BIN.tmp" .)
  mv "$GOHTTP_BIN.tmp" "$GOHTTP_BIN"
}

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
build_gohttp
build_http_body
[[ ${1:-} == --build-only ]] && exit 0
GO_BIN=$GOHTTP_BIN # start_server's "go"
SERVERS=${BENCH_SERVERS:-host go}
pick_servers

stop_backend() {
  [[ -n $BACKEND_PID ]] || return 0
  kill -TERM "$BACKEND_PID" 2>/dev/null || true
  wait "$BACKEND_PID" 2>/dev/null || true
  BACKEND_PID=
}
trap 'cleanup; stop_backend' EXIT

taskset -c "$LOAD_CPU" "$GOHTTP_BIN" -backend -ports "$BACKEND_PORTS" >"$LOG_DIR/$NAME-backend.log" 2>&1 &
BACKEND_PID=$!
for ((i = 0; i < 200; i++)); do port_open "$BACKEND_PORT" && break; sleep 0.05; done
port_open "$BACKEND_PORT" || die "the backend did not start (see $LOG_DIR/$NAME-backend.log)"

h2load_run() { # n output-file
  taskset -c "$LOAD_CPU" h2load -n "$1" -c 1 -m 100 -H 'content-type: application/grpc' \
    -H 'te: trailers' -d "$HTTP_BODY" "http://127.0.0.1:$PORT/helloworld.Greeter/SayHello" >"$2" 2>&1 &
  BG_PID=$!
  local rc=0
  wait "$BG_PID" || rc=$?
  BG_PID=
  return "$rc"
}

check_reply() { # the reply a real client gets
  local out
  out=$(PYTHONPATH=$PY_DIR "$PYTHON" - "$PORT" "$URL" <<'PY'
import sys, grpc, helloworld_pb2 as pb, helloworld_pb2_grpc as rpc
with grpc.insecure_channel("127.0.0.1:" + sys.argv[1]) as ch:
    print(rpc.GreeterStub(ch).SayHello(pb.HelloRequest(name=sys.argv[2]), timeout=10).message)
PY
  ) || die "$1: the Python client failed: $out"
  [[ $out == "Hello ok" ]] || die "$1: got '$out', wanted 'Hello ok'"
}

declare -A RPS CPU
rate() { # name round
  local f=$LOG_DIR/$NAME-$1-$2.h2load t0 t1 ok rps
  start_server "$1" "$SERVER_CPU" 1
  check_reply "$1"
  h2load_run $((N / 10)) "$f" || { cat "$f" >&2; die "$1: h2load warm-up failed"; }
  t0=$(cpu_ticks)
  h2load_run "$N" "$f" || { cat "$f" >&2; die "$1: h2load failed"; }
  t1=$(cpu_ticks)
  ok=$(awk '/^status codes:/ { print $3 }' "$f")
  rps=$(awk '/^finished in/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^req\/s/) print $i }' "$f")
  [[ $ok == "$N" ]] || die "$1: $ok of $N calls answered 2xx (see $f)"
  RPS[$1]+=" ${rps%,}"
  CPU[$1]+=" $(awk -v d=$((t1 - t0)) -v hz="$(clk_tck)" -v n="$N" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')"
  log "  $1 round $2: ${rps%,} req/s"
  stop_server
}

declare -A MEM
memory() { # name
  local out
  start_server "$1" "$SERVER_CPU" 1
  check_reply "$1"
  out=$(PYTHONPATH=$PY_DIR taskset -c "$LOAD_CPU" "$PYTHON" - "$PORT" "$SERVER_PID" "$BACKEND_PORT" \
    "$MEM_N" "$MEM_DELAY" <<'PY'
import sys, time, urllib.request, grpc, helloworld_pb2 as pb, helloworld_pb2_grpc as rpc
port, pid, base, n, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def rss():
    with open("/proc/%d/status" % pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
def inflight():
    return int(urllib.request.urlopen("http://127.0.0.1:%d/inflight" % base, timeout=5).read())
with grpc.insecure_channel("127.0.0.1:" + port) as ch:
    stub = rpc.GreeterStub(ch)
    r0 = rss()
    fs = [stub.SayHello.future(pb.HelloRequest(name="http://127.0.0.1:%d/delay?ms=%s" % (base + i % 16, delay)),
                               timeout=120) for i in range(n)]
    deadline = time.monotonic() + 60
    while inflight() < n and time.monotonic() < deadline:
        time.sleep(0.01)
    if inflight() < n:
        sys.exit("only %d of %d requests reached the backend" % (inflight(), n))
    r1 = rss()
    bad = [f.result().message for f in fs if f.result().message != "Hello ok"]
    if bad:
        sys.exit("%d calls got %r" % (len(bad), bad[0]))
    print("base=%d inflight=%d idle=%d" % (r0, r1, rss()))
PY
  ) || die "$1: the memory client failed: $out"
  MEM[$1]=$out
  log "  $1: $out (RSS kB)"
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
  printf '%-6s %10.0f %8s %14s %18.1f %18.1f\n' "$name" "$rps" "$(spread ${RPS[$name]})" "$cpu" \
    "$(awk -v a="$fly" -v b="$base" -v n="$MEM_N" 'BEGIN { print (a - b) / n }')" \
    "$(awk -v a="$idle" -v b="$base" -v n="$MEM_N" 'BEGIN { print (a - b) / n }')"
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
