# shellcheck shell=bash
# Shared by the scripts of bench/ (unary.sh, stream.sh, footprint.sh, http.sh, proxy.sh, run.sh,
# ...; sourced, not run). Expects the caller to have set BENCH_DIR and NAME (the script's name, for
# messages) and `set -euo pipefail`.
#
# Servers (BENCH_SERVERS picks them, in order; default "host hostlog core cpp go js python"), each
# the same helloworld.Greeter (proto/helloworld.proto), the streaming methods as
# bench/scripts/greeter.lua:
#   host    the function host ($HOST_BIN, built by the project's CMake build; skipped if absent),
#           with BENCH_HOST_ARGS [--quiet]
#   hostlog the same host writing its per-call log lines, as users run it (BENCH_HOST_ARGS without
#           --quiet; stdout is a pipe, as on Function Compute, whose reader, unpinned, copies it to
#           the server's log file): where a line a call costs, unary.sh and cost.sh (the scripts
#           that set WITH_HOSTLOG)
#   core    the bare gRPC C core (peers/c, core_server, built by the project's CMake build as
#           $CORE_BIN): one thread, one completion queue, no Lua, no codec; the ceiling
#   cpp     grpc C++ callback API (peers/cpp/greeter_callback_server.cc, Debian libgrpc++-dev)
#   go      grpc-go 1.33 (peers/go, Debian golang-google-grpc-dev), GOMAXPROCS=1
#   js      grpc-js on node (peers/js/server.js; `npm install` of peers/js/package.json's exact
#           versions into $BUILD/js); skipped, with a line saying why, without node and npm
#   python  grpcio (peers/python/server.py on /usr/bin/python3, Debian python3-grpcio; stubs made
#           by protoc + grpc_python_plugin in $BUILD/py); skipped, with a line saying why,
#           without grpcio
#
# Environment (defaults in brackets):
#   BENCH_BUILD_DIR   build outputs [<repo>/build/bench]; nothing is written to the source tree
#   HOST_BIN          the host binary [<repo>/build/host]
#   HOST_PROTOSET     [<repo>/build/protoset.pb]
#   CORE_BIN          the bare C core peer [<repo>/build/bench/core_server]
#   BENCH_SCRIPTS     the host's scripts [<repo>/bench/scripts]: greeter.lua with x-count
#   BENCH_HOST_ARGS   extra arguments for the host [--quiet]
#   BENCH_SERVERS     which servers, in order ["host hostlog core cpp go js python"]
#   BENCH_RATIOS      the ratio columns, A/B for A's figure over B's, each shown when both ran
#                     ["host/core host/cpp host/go host/js host/python hostlog/host hostlog/core
#                     hostlog/cpp"]: hostlog/host is what the log lines cost
#   BENCH_PORT        port the servers listen on, one at a time [31152; unary.sh 50151]: keep it out
#                     of the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), or the
#                     cold-start connect loop may connect a socket to itself and take the port
#   BENCH_SERVER_CPU  core of the server [0]         BENCH_LOAD_CPU  core of the load client [1]
#   BENCH_QUIET       unset: measure at once; P: before each round, wait until other jobs use less
#                     than P% of the CPU for 5 s (at most BENCH_QUIET_WAIT [900] s)
#   BENCH_QUICK       1: a smoke test; each of these knobs that is unset gets a tiny default:
#                     BENCH_ROUNDS 1, BENCH_N 2000, BENCH_WARMUP 200, BENCH_STREAM_N 5000,
#                     BENCH_CLIENT_N 5000, BENCH_BIDI_N 1000, BENCH_COLD_RUNS 3, BENCH_CONNS 10,
#                     BENCH_STREAMS 10, BENCH_GROWTH_STEPS "2000 5000", BENCH_WORKERS_N 5000
#   BENCH_RESULTS     a file each script appends its medians to, one tab-separated line each
#                     (measurement, unit, better, server, value; bench/run.sh's table); unset: none

ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/bench}
HOST_BIN=${HOST_BIN:-$ROOT/build/host}
HOST_PROTOSET=${HOST_PROTOSET:-$ROOT/build/protoset.pb}
BENCH_SCRIPTS=${BENCH_SCRIPTS:-$BENCH_DIR/scripts}
read -r -a HOST_ARGS <<<"${BENCH_HOST_ARGS---quiet}"
PROTO_DIR=$ROOT/proto
SERVERS=${BENCH_SERVERS:-host hostlog core cpp go js python}
RATIOS=${BENCH_RATIOS:-host/core host/cpp host/go host/js host/python hostlog/host hostlog/core hostlog/cpp}
CORE_BIN=${CORE_BIN:-$ROOT/build/bench/core_server}
PORT=${BENCH_PORT:-31152}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
CPP_BIN=$BUILD/cpp/greeter_callback_server
GO_BIN=$BUILD/go/greeter_server
LOAD_BIN=$BUILD/go/load
JS_DIR=$BUILD/js
PY_DIR=$BUILD/py
PYTHON=/usr/bin/python3
BODY=$BUILD/sayhello.bin # one framed HelloRequest{name: "world"}: h2load's request body
LOG_DIR=$BUILD/logs
GO_EXAMPLES=/usr/share/doc/golang-google-grpc-dev/examples/helloworld
mkdir -p "$LOG_DIR"

if [[ ${BENCH_QUICK:-} == 1 ]]; then
  : "${BENCH_ROUNDS:=1}" "${BENCH_N:=2000}" "${BENCH_WARMUP:=200}" "${BENCH_STREAM_N:=5000}"
  : "${BENCH_CLIENT_N:=5000}" "${BENCH_BIDI_N:=1000}" "${BENCH_COLD_RUNS:=3}" "${BENCH_CONNS:=10}"
  : "${BENCH_STREAMS:=10}" "${BENCH_GROWTH_STEPS:=2000 5000}" "${BENCH_WORKERS_N:=5000}"
fi

log() { printf '%s\n' "$*" >&2; }
die() { log "$NAME: $*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (${2:-})"; }

# ---------------------------------------------------------------------------------------------
# Build. A target is rebuilt when it is missing or older than any of its sources. A peer that
# cannot be had here (js, python) is recorded in SKIP with the reason, and pick_servers leaves it
# out with that line; cpp and go are part of the benchmark's base and stop it when they fail.

declare -A SKIP

up_to_date() { # target sources...
  local t=$1 s
  shift
  [[ -e $t ]] || return 1
  for s in "$@"; do [[ $t -nt $s ]] || return 1; done
}

build_cpp() {
  local src=$BENCH_DIR/peers/cpp/greeter_callback_server.cc gen=$BUILD/cpp/gen
  up_to_date "$CPP_BIN" "$src" "$PROTO_DIR/helloworld.proto" && return 0
  need protoc "apt-get install -y protobuf-compiler"
  need grpc_cpp_plugin "apt-get install -y protobuf-compiler-grpc"
  pkg-config --exists grpc++ protobuf || die "grpc++ not found (apt-get install -y libgrpc++-dev libprotobuf-dev)"
  log "building $CPP_BIN"
  rm -rf "$gen" && mkdir -p "$gen"
  protoc -I"$PROTO_DIR" --cpp_out="$gen" --grpc_out="$gen" \
    --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" helloworld.proto
  # shellcheck disable=SC2046
  g++ -std=c++17 -O2 -DNDEBUG -I"$gen" -o "$CPP_BIN.tmp" "$src" \
    "$gen/helloworld.pb.cc" "$gen/helloworld.grpc.pb.cc" $(pkg-config --cflags --libs grpc++ protobuf)
  mv "$CPP_BIN.tmp" "$CPP_BIN"
}

GOENV=(env GO111MODULE=off GOPATH="$BUILD/go/gopath:/usr/share/gocode" GOCACHE="$BUILD/go/cache"
  HOME="$BUILD/go/home" GOFLAGS=)

build_go() {
  # GOPATH mode (Debian ships grpc-go as GOPATH sources in /usr/share/gocode). The stubs go in a
  # GOPATH of our own as package greeterbench/helloworld: under their stock import path they would
  # shadow google.golang.org/grpc itself. The stubs shipped with the examples are used if they
  # build; otherwise they are regenerated from proto/helloworld.proto.
  local src=$BENCH_DIR/peers/go stubs=$BUILD/go/gopath/src/greeterbench/helloworld
  up_to_date "$GO_BIN" "$src"/*.go "$PROTO_DIR/helloworld.proto" && return 0
  need go "apt-get install -y golang-go golang-google-grpc-dev"
  [[ -d /usr/share/gocode/src/google.golang.org/grpc ]] || die "grpc-go not found (apt-get install -y golang-google-grpc-dev)"
  log "building $GO_BIN"
  mkdir -p "$stubs" "$BUILD/go/cache" "$BUILD/go/home"
  rm -f "$stubs"/*.go
  if [[ -f $GO_EXAMPLES/helloworld/helloworld_grpc.pb.go ]]; then
    cp "$GO_EXAMPLES"/helloworld/*.pb.go "$stubs"/
  fi
  if ! (cd "$src" && "${GOENV[@]}" go build -o "$GO_BIN.tmp" . 2>"$BUILD/go/build.log"); then
    log "  shipped stubs do not build ($(head -1 "$BUILD/go/build.log")); regenerating"
    need protoc-gen-go "apt-get install -y protoc-gen-go golang-github-golang-protobuf-1-5-dev"
    need protoc-gen-go-grpc "apt-get install -y protoc-gen-go-grpc"
    rm -f "$stubs"/*.go
    protoc -I"$PROTO_DIR" --go_out="$stubs" --go_opt=paths=source_relative \
      --go-grpc_out="$stubs" --go-grpc_opt=paths=source_relative helloworld.proto
    (cd "$src" && "${GOENV[@]}" go build -o "$GO_BIN.tmp" .)
  fi
  mv "$GO_BIN.tmp" "$GO_BIN"
}

# build_go_dir SRC BIN: a Go program in SRC, in the Go peer's GOPATH (its stubs), as BIN.
build_go_dir() {
  local stubs=$BUILD/go/gopath/src/greeterbench/helloworld
  build_go
  up_to_date "$2" "$1"/*.go "$stubs/helloworld_grpc.pb.go" && return 0
  log "building $2"
  (cd "$1" && "${GOENV[@]}" go build -o "$2.tmp" .)
  mv "$2.tmp" "$2"
}

build_load() { build_go_dir "$BENCH_DIR/load" "$LOAD_BIN"; } # stream.sh's and footprint.sh's client
build_go_peer() { build_go_dir "$BENCH_DIR/peers/$1" "$BUILD/go/$1"; } # peers/NAME -> $BUILD/go/NAME

# Python stubs (helloworld_pb2*.py) in $PY_DIR, made the way tests/harness.py's load_stubs makes
# them: protoc with grpc_python_plugin (Debian has no python3-grpc-tools). They serve unary.sh's
# sanity client, its request bodies and the python peer.
build_py() {
  if ! "$PYTHON" -c 'import grpc, google.protobuf' 2>/dev/null; then
    SKIP[python]="python grpcio not found ($PYTHON; apt-get install -y python3-grpcio python3-protobuf)"
    return 0
  fi
  up_to_date "$PY_DIR/helloworld_pb2_grpc.py" "$PROTO_DIR/helloworld.proto" && return 0
  need protoc "apt-get install -y protobuf-compiler"
  need grpc_python_plugin "apt-get install -y protobuf-compiler-grpc"
  mkdir -p "$PY_DIR"
  protoc -I"$PROTO_DIR" --python_out="$PY_DIR" --grpc_python_out="$PY_DIR" \
    --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" helloworld.proto
}

# grpc-js: package.json (exact versions of @grpc/grpc-js and @grpc/proto-loader) is copied to
# $JS_DIR and installed there; server.js runs from the source tree with NODE_PATH pointing there.
build_js() {
  local src=$BENCH_DIR/peers/js stamp=$JS_DIR/installed
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    SKIP[js]="node or npm not found (apt-get install -y nodejs npm)"
    return 0
  fi
  up_to_date "$stamp" "$src/package.json" && return 0
  log "installing grpc-js into $JS_DIR (npm install; log in $JS_DIR/npm.log)"
  mkdir -p "$JS_DIR"
  rm -f "$stamp"
  cp "$src/package.json" "$JS_DIR/package.json"
  if (cd "$JS_DIR" && npm install --no-audit --no-fund --cache "$JS_DIR/npm-cache" >"$JS_DIR/npm.log" 2>&1); then
    touch "$stamp"
  else
    SKIP[js]="npm install failed (see $JS_DIR/npm.log)"
  fi
}

build_body() { # 5-byte gRPC frame header (uncompressed, length 7) + HelloRequest{name: "world"}
  [[ -s $BODY ]] && return 0
  printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$BODY"
}

# build_peers [all]: what $SERVERS needs (all: every peer), the python stubs and the body file.
build_peers() {
  local all=${1:-} name
  build_py
  build_body
  for name in cpp go js; do
    [[ -n $all || " $SERVERS " == *" $name "* ]] || continue
    "build_$name"
  done
}

build_all() { # build_peers [all], then the load client
  build_peers "${1:-}"
  build_load
}

# pick_servers: RUN = the servers of $SERVERS that can run here; a line for each one left out.
RUN=()
pick_servers() {
  local name
  RUN=()
  for name in $SERVERS; do
    case $name in
    host | hostlog)
      if [[ ! -x $HOST_BIN ]]; then
        log "$name: $HOST_BIN not found; skipped (build it, or set HOST_BIN)"
        continue
      fi
      if [[ $name == hostlog && -z ${WITH_HOSTLOG:-} ]]; then
        log "hostlog: one log line a call matters for unary calls only (unary.sh, cost.sh); skipped"
        continue
      fi
      ;;
    core)
      if [[ ! -x $CORE_BIN ]]; then
        log "core: $CORE_BIN not found; skipped (cmake --build build --target core_server, or set CORE_BIN)"
        continue
      fi
      ;;
    cpp | go | js | python)
      if [[ -n ${SKIP[$name]:-} ]]; then
        log "$name: ${SKIP[$name]}; skipped"
        continue
      fi
      ;;
    *) die "unknown server $name (host hostlog core cpp go js python)" ;;
    esac
    RUN+=("$name")
  done
  ((${#RUN[@]})) || die "no server to measure"
}

# ---------------------------------------------------------------------------------------------
# Servers. One runs at a time, on $PORT; the EXIT trap stops whichever is running.
#   start_server NAME CPUS [WORKERS]   host, hostlog: --workers WORKERS [1]; go: GOMAXPROCS=WORKERS [1];
#                                      core, cpp, js, python: no such knob

SERVER_PID=
SERVER_NAME=
GO_ARGS=() # more arguments for the go server (proxy.sh's -target)
BG_PID=   # a load generator being waited for
IDLE_PID= # footprint.sh's idle-stream client, running meanwhile

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  local pid=$SERVER_PID i
  SERVER_PID=
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do # up to 5 s for a graceful exit
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "  $SERVER_NAME did not stop on SIGTERM in 5 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local p
  for p in $BG_PID $IDLE_PID; do
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  stop_server
  stop_backend
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

server_cmd() { # name cpus workers -> SERVER_CMD array (`env`, `taskset` and the server exec in turn)
  case $1 in
  host) SERVER_CMD=(taskset -c "$2" "$HOST_BIN" --port "$PORT" --address 127.0.0.1 --workers "$3"
    --protoset "$HOST_PROTOSET" --scripts "$BENCH_SCRIPTS" --no-watch "${HOST_ARGS[@]}") ;;
  hostlog)
    local a args=()
    for a in "${HOST_ARGS[@]}"; do [[ $a == --quiet ]] || args+=("$a"); done
    SERVER_CMD=(taskset -c "$2" "$HOST_BIN" --port "$PORT" --address 127.0.0.1 --workers "$3"
      --protoset "$HOST_PROTOSET" --scripts "$BENCH_SCRIPTS" --no-watch "${args[@]}")
    ;;
  core) SERVER_CMD=(taskset -c "$2" "$CORE_BIN" --port "$PORT") ;;
  go) SERVER_CMD=(env GOMAXPROCS="$3" taskset -c "$2" "$GO_BIN" -port "$PORT" "${GO_ARGS[@]}") ;;
  cpp) SERVER_CMD=(taskset -c "$2" "$CPP_BIN" --port "$PORT") ;;
  js) SERVER_CMD=(env NODE_PATH="$JS_DIR/node_modules" taskset -c "$2" "$(command -v node)"
    "$BENCH_DIR/peers/js/server.js" --port "$PORT") ;;
  python) SERVER_CMD=(env PYTHONPATH="$PY_DIR" taskset -c "$2" "$PYTHON" "$BENCH_DIR/peers/python/server.py"
    --port "$PORT") ;;
  *) die "unknown server $1" ;;
  esac
}

# SERVER_WRAP: a command the server runs under, between taskset and the server (callgrind.sh's
# valgrind); START_SECS: how long start_server waits for it to be ready.
SERVER_WRAP=()
START_SECS=10

start_server() { # name cpus [workers]
  local name=$1 logf=$LOG_DIR/$NAME-$1.log i
  SERVER_NAME=$name
  port_open "$PORT" && die "port $PORT is already in use (set BENCH_PORT)"
  server_cmd "$name" "$2" "${3:-1}"
  if ((${#SERVER_WRAP[@]})); then
    [[ ${SERVER_CMD[0]} == taskset ]] || die "$name: cannot run under ${SERVER_WRAP[0]}"
    SERVER_CMD=("${SERVER_CMD[@]:0:3}" "${SERVER_WRAP[@]}" "${SERVER_CMD[@]:3}")
  fi
  : >"$logf"
  # exec: `env` and `taskset` exec the server, so $! is the server's own pid (for /proc).
  if [[ $name == hostlog ]]; then
    "${SERVER_CMD[@]}" > >(cat >"$logf") 2>&1 &
  else
    "${SERVER_CMD[@]}" >"$logf" 2>&1 &
  fi
  SERVER_PID=$!
  # Readiness: the host says msg=ready; the peers are ready once the port accepts.
  local by_log=0
  [[ $name == host* ]] && by_log=1
  for ((i = 0; i < START_SECS * 20; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited during start-up"; }
    if ((!by_log)) || grep -q 'msg=ready' "$logf"; then
      port_open "$PORT" && return 0
    fi
    sleep 0.05
  done
  cat "$logf" >&2
  die "$name not ready on port $PORT after $START_SECS s"
}

# The backend a server calls (http.sh, proxy.sh): one at a time, beside the server; the EXIT
# trap stops it too.
BACKEND_PID=

start_backend() { # port command...: runs the command; ready once port accepts
  local port=$1 logf=$LOG_DIR/$NAME-backend.log i
  shift
  port_open "$port" && die "port $port is already in use (set BENCH_BACKEND_PORT)"
  "$@" >"$logf" 2>&1 &
  BACKEND_PID=$!
  for ((i = 0; i < 200; i++)); do # up to 10 s
    kill -0 "$BACKEND_PID" 2>/dev/null || { cat "$logf" >&2; die "the backend exited during start-up"; }
    port_open "$port" && return 0
    sleep 0.05
  done
  die "the backend is not ready on port $port after 10 s (see $logf)"
}

stop_backend() {
  [[ -n $BACKEND_PID ]] || return 0
  kill -TERM "$BACKEND_PID" 2>/dev/null || true
  wait "$BACKEND_PID" 2>/dev/null || true
  BACKEND_PID=
}

in_background() { # command...: runs it in the background and waits, so that a signal's trap runs at once
  "$@" &
  BG_PID=$!
  local rc=0
  wait "$BG_PID" || rc=$?
  BG_PID=
  return "$rc"
}

load() { in_background taskset -c "$LOAD_CPU" "$LOAD_BIN" "$@"; } # the load client, pinned to $LOAD_CPU

h2load_run() { # clients streams n body output-file: unary SayHello on $PORT, pinned to $LOAD_CPU
  in_background taskset -c "$LOAD_CPU" h2load -n "$3" -c "$1" -m "$2" \
    -H 'content-type: application/grpc' -H 'te: trailers' -d "$4" \
    "http://127.0.0.1:$PORT/helloworld.Greeter/SayHello" >"$5" 2>&1
}

# ---------------------------------------------------------------------------------------------
# A server that calls a backend (http.sh, proxy.sh).

check_reply() { # name expected: a Python gRPC client's SayHello(name) on $PORT gets expected
  local out
  out=$(PYTHONPATH=$PY_DIR "$PYTHON" - "$PORT" "$1" <<'PY'
import sys, grpc, helloworld_pb2 as pb, helloworld_pb2_grpc as rpc
with grpc.insecure_channel("127.0.0.1:" + sys.argv[1]) as ch:
    print(rpc.GreeterStub(ch).SayHello(pb.HelloRequest(name=sys.argv[2]), timeout=10).message)
PY
  ) || die "$SERVER_NAME: the Python client failed: $out"
  [[ $out == "$2" ]] || die "$SERVER_NAME: got '$out', wanted '$2'"
}

# measure_rate LABEL CLIENTS STREAMS N BODY REPLY: h2load on the running server, N/10 calls of
# warm-up first, then N measured: RATE = req/s, CPU_US = the server's CPU (utime + stime) per call
# in us. h2load counts a gRPC error as a success (HTTP 200, the status is in the trailers), so the
# replies' bytes must also add up to N HelloReply{message: REPLY} (REPLY under 128 bytes).
RATE=
CPU_US=
measure_rate() {
  local f=$LOG_DIR/$NAME-$1.h2load t0 t1 ok data want=$(($4 * (7 + ${#6})))
  h2load_run "$2" "$3" $(($4 / 10)) "$5" "$f" || { cat "$f" >&2; die "$1: h2load warm-up failed"; }
  t0=$(cpu_ticks "$SERVER_PID")
  h2load_run "$2" "$3" "$4" "$5" "$f" || { cat "$f" >&2; die "$1: h2load failed"; }
  t1=$(cpu_ticks "$SERVER_PID")
  ok=$(awk '/^status codes:/ { print $3 }' "$f")
  data=$(awk '/^traffic:/ { print substr($(NF - 1), 2, length($(NF - 1)) - 2) }' "$f")
  [[ $ok == "$4" ]] || die "$1: $ok of $4 calls answered 2xx (see $f)"
  [[ $data == "$want" ]] || die "$1: $data bytes of replies, not the $want of $4 replies: calls failed (see $f)"
  RATE=$(awk '/^finished in/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^req\/s/) print $i + 0 }' "$f")
  CPU_US=$(awk -v d=$((t1 - t0)) -v hz="$(clk_tck)" -v n="$4" 'BEGIN { printf "%.1f", d / hz / n * 1e6 }')
}

# inflight_rss N STATUS_URL EXPECT NAME...: bench/inflight.py against the running server (see
# there): prints "base=B inflight=F idle=I" (kB).
inflight_rss() {
  local out
  out=$(PYTHONPATH=$PY_DIR taskset -c "$LOAD_CPU" "$PYTHON" "$BENCH_DIR/inflight.py" "$PORT" "$SERVER_PID" "$@" 2>&1) ||
    die "$SERVER_NAME: the memory client failed: $out"
  printf '%s\n' "$out"
}

per_call() { # from to n -> (to - from) / n, one decimal
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (b - a) / n }'
}

# ---------------------------------------------------------------------------------------------
# /proc readings of the running server.

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/${1:-$SERVER_PID}/status"; }
anon_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/${1:-$SERVER_PID}/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/${1:-$SERVER_PID}/stat"; }
clk_tck() { getconf CLK_TCK; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# The machine's CPU use (all cores, % of their total) over 1 s, taken when none of ours runs: what
# other jobs are doing. The load average lags by minutes and counts our own runs too.
busy() {
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); u = y[1] - x[1]; i = y[2] - x[2]
    printf "%.0f%%", (u + i) ? 100 * u / (u + i) : 0 }'
}
others() { printf 'load %s, busy %s' "$(load1)" "$(busy)"; }
# With BENCH_QUIET=P, wait (up to BENCH_QUIET_WAIT s [900]) until other jobs use less than P% of the
# machine's CPU over 5 s in a row; then go on either way. Called before each round.
wait_quiet() {
  [[ -n ${BENCH_QUIET:-} ]] || return 0
  local t0=$SECONDS b ok=0
  while ((SECONDS - t0 < ${BENCH_QUIET_WAIT:-900})); do
    b=$(busy)
    if ((${b%\%} < BENCH_QUIET)); then
      ((++ok >= 5)) && return 0
    else
      ok=0
    fi
  done
  log "  busy $b after ${BENCH_QUIET_WAIT:-900} s waiting for < $BENCH_QUIET%: measuring anyway"
}

# ---------------------------------------------------------------------------------------------
# Statistics over space-separated values.

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
best() { printf '%s\n' "$@" | sort -g | tail -1; }
lowest() { printf '%s\n' "$@" | sort -g | head -1; }
spread() { # (max - min) / median, as a percentage
  local med
  med=$(median "$@")
  printf '%s\n' "$@" | sort -g | awk -v m="$med" '{ v[NR] = $1 } END {
    if (m == 0) print "-"; else printf "%.0f%%", 100 * (v[NR] - v[1]) / m }'
}
ratio() { # a b -> a/b as "1.23x"; "-" when either is missing or not above 0
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a + 0 <= 0 || b + 0 <= 0) print "-"; else printf "%.2fx", a / b }'
}
kv() { # key line -> value of key=value in line
  tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# ---------------------------------------------------------------------------------------------
# Tables.

# The ratio columns (BENCH_RATIOS) whose two servers are both in RUN.
ratio_pairs() {
  local r out=()
  for r in $RATIOS; do
    [[ " ${RUN[*]} " == *" ${r%/*} "* && " ${RUN[*]} " == *" ${r#*/} "* ]] && out+=("$r")
  done
  printf '%s\n' "${out[*]}"
}

# ratio_cells NAME PAIRS VALUES: the ratio columns of NAME's row of a table, VALUES an
# associative array's name (server -> figure): A/B where NAME is A, "-" elsewhere.
ratio_cells() {
  local -n val=$3
  local r
  for r in $2; do
    if [[ ${r%/*} == "$1" ]]; then printf ' %11s' "$(ratio "${val[$1]}" "${val[${r#*/}]}")"; else printf ' %11s' -; fi
  done
}

# record MEASUREMENT UNIT BETTER SERVER VALUE: one line of $BENCH_RESULTS (if set). BETTER is
# high, low, or - (no ratio: e.g. a difference near zero).
record() {
  [[ -n ${BENCH_RESULTS:-} && -n $5 ]] || return 0
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$BENCH_RESULTS"
}

size_label() { # bytes -> 10 B, 1 KiB, 64 KiB, 1 MiB
  awk -v b="$1" 'BEGIN {
    if (b >= 1048576 && b % 1048576 == 0) printf "%d MiB", b / 1048576
    else if (b >= 1024 && b % 1024 == 0) printf "%d KiB", b / 1024
    else printf "%d B", b }'
}
