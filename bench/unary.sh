#!/usr/bin/env bash
# Unary SayHello throughput of the host against hand-written servers (issue 8, first slice).
#
#   bench/unary.sh [--build-only]
#
# Builds the peers (skipping what is up to date), then for each server in turn: starts it pinned
# to one core, checks that the exact request h2load sends is answered with grpc-status 0 (and a
# Python grpc client gets "Hello world"), runs h2load pinned to the other core at each setting
# (a warm-up, then a measured run), stops it, and prints one table with the host's ratio to each
# peer. All that is done BENCH_ROUNDS times, servers taking turns so that drift in the machine's
# speed hits them alike; the table gives each figure's median over the rounds, the best req/s,
# and the spread of req/s ((max-min)/median): a wide spread means something else was using the
# cores (on a shared machine, the best round is then the closer estimate). Servers:
#   host  the function host ($HOST_BIN, built by the project's CMake build; skipped if absent)
#   cpp   grpc C++ callback API (peers/cpp/greeter_callback_server.cc, Debian libgrpc++-dev)
#   go    grpc-go 1.33 greeter_server (peers/go, Debian golang-google-grpc-dev), GOMAXPROCS=1
#
# Environment (defaults in brackets):
#   BENCH_BUILD_DIR   build outputs [<repo>/build/bench]; nothing is written to the source tree
#   HOST_BIN          the host binary [<repo>/build/host]
#   HOST_PROTOSET     [<repo>/build/protoset.pb]     HOST_SCRIPTS  [<repo>/scripts]
#   BENCH_HOST_ARGS   arguments for the host [--quiet]: like the peers, no log line per call
#   BENCH_SERVERS     which servers, in order ["host cpp go"]
#   BENCH_SETTINGS    h2load clients x streams per client ["1x1 1x10 1x100 8x100"]
#   BENCH_N           requests per measured run [200000]
#   BENCH_WARMUP      requests per warm-up run [20000]
#   BENCH_ROUNDS      rounds over all servers and settings [3]
#   BENCH_PORT        port the servers listen on, one at a time [50151]
#   BENCH_SERVER_CPU  core of the server [0]         BENCH_LOAD_CPU  core of h2load [1]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/bench}
HOST_BIN=${HOST_BIN:-$ROOT/build/host}
HOST_PROTOSET=${HOST_PROTOSET:-$ROOT/build/protoset.pb}
HOST_SCRIPTS=${HOST_SCRIPTS:-$ROOT/scripts}
read -r -a HOST_ARGS <<<"${BENCH_HOST_ARGS---quiet}"
PROTO_DIR=$ROOT/proto
SERVERS=${BENCH_SERVERS:-host cpp go}
SETTINGS=${BENCH_SETTINGS:-1x1 1x10 1x100 8x100}
N=${BENCH_N:-200000}
WARMUP=${BENCH_WARMUP:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
PORT=${BENCH_PORT:-50151}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
GO_EXAMPLES=/usr/share/doc/golang-google-grpc-dev/examples/helloworld
PATH_SAYHELLO=/helloworld.Greeter/SayHello

CPP_BIN=$BUILD/cpp/greeter_callback_server
GO_BIN=$BUILD/go/greeter_server
PY_DIR=$BUILD/py
BODY=$BUILD/sayhello.bin
LOG_DIR=$BUILD/logs

log() { printf '%s\n' "$*" >&2; }
die() { log "unary.sh: $*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (${2:-})"; }

# ---------------------------------------------------------------------------------------------
# Build. A target is rebuilt when it is missing or older than any of its sources.

up_to_date() { # target sources...
  local t=$1 s; shift
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
  local -a goenv=(env GO111MODULE=off GOPATH="$BUILD/go/gopath:/usr/share/gocode"
    GOCACHE="$BUILD/go/cache" HOME="$BUILD/go/home" GOFLAGS=)
  rm -f "$stubs"/*.go
  if [[ -f $GO_EXAMPLES/helloworld/helloworld_grpc.pb.go ]]; then
    cp "$GO_EXAMPLES"/helloworld/*.pb.go "$stubs"/
  fi
  if ! (cd "$src" && "${goenv[@]}" go build -o "$GO_BIN.tmp" . 2>"$BUILD/go/build.log"); then
    log "  shipped stubs do not build ($(head -1 "$BUILD/go/build.log")); regenerating"
    need protoc-gen-go "apt-get install -y protoc-gen-go golang-github-golang-protobuf-1-5-dev"
    need protoc-gen-go-grpc "apt-get install -y protoc-gen-go-grpc"
    rm -f "$stubs"/*.go
    protoc -I"$PROTO_DIR" --go_out="$stubs" --go_opt=paths=source_relative \
      --go-grpc_out="$stubs" --go-grpc_opt=paths=source_relative helloworld.proto
    (cd "$src" && "${goenv[@]}" go build -o "$GO_BIN.tmp" .)
  fi
  mv "$GO_BIN.tmp" "$GO_BIN"
}

build_py() { # stubs for the one-off Python sanity call
  up_to_date "$PY_DIR/helloworld_pb2_grpc.py" "$PROTO_DIR/helloworld.proto" && return 0
  need grpc_python_plugin "apt-get install -y protobuf-compiler-grpc"
  mkdir -p "$PY_DIR"
  protoc -I"$PROTO_DIR" --python_out="$PY_DIR" --grpc_python_out="$PY_DIR" \
    --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" helloworld.proto
}

build_body() { # 5-byte gRPC frame header (uncompressed, length 7) + HelloRequest{name: "world"}
  [[ -s $BODY ]] && return 0
  printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$BODY"
}

# ---------------------------------------------------------------------------------------------
# Servers. One runs at a time, on $PORT; the EXIT trap stops whichever is running.

SERVER_PID=
SERVER_NAME=

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
LOAD_PID=

cleanup() {
  if [[ -n $LOAD_PID ]]; then
    kill -TERM "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
  fi
  stop_server
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() { # name
  local name=$1 logf=$LOG_DIR/$1.log i
  SERVER_NAME=$name
  port_open "$PORT" && die "port $PORT is already in use (set BENCH_PORT)"
  : >"$logf"
  case $name in
  host)
    taskset -c "$SERVER_CPU" "$HOST_BIN" --port "$PORT" --workers 1 --protoset "$HOST_PROTOSET" \
      --scripts "$HOST_SCRIPTS" --no-watch "${HOST_ARGS[@]}" >"$logf" 2>&1 &
    ;;
  cpp) taskset -c "$SERVER_CPU" "$CPP_BIN" --port "$PORT" >"$logf" 2>&1 & ;;
  go) GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$GO_BIN" -port "$PORT" >"$logf" 2>&1 & ;;
  *) die "unknown server $name" ;;
  esac
  SERVER_PID=$!
  # Readiness: the host says msg=ready; the peers are ready once the port accepts.
  local by_log=0
  [[ $name == host ]] && by_log=1
  for ((i = 0; i < 200; i++)); do # up to 10 s
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited during start-up"; }
    if ((!by_log)) || grep -q 'msg=ready' "$logf"; then
      port_open "$PORT" && return 0
    fi
    sleep 0.05
  done
  cat "$logf" >&2
  die "$name not ready on port $PORT after 10 s"
}

# h2load counts a gRPC error as a success (HTTP 200, the status is in the trailers), so before
# the load each server must answer the very request h2load sends with grpc-status 0, and a real
# gRPC client must get the right reply.
check_server() { # name
  local out
  out=$(nghttp -v -d "$BODY" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$PORT$PATH_SAYHELLO" 2>&1 | tr -d '\0') || true
  grep -q 'recv (stream_id=[0-9]*) grpc-status: 0$' <<<"$out" ||
    { log "$out"; die "$1: the h2load request did not get grpc-status 0"; }
  out=$(PYTHONPATH=$PY_DIR /usr/bin/python3 - "$PORT" 2>&1 <<'EOF'
import sys, grpc, helloworld_pb2 as pb, helloworld_pb2_grpc as rpc
with grpc.insecure_channel("127.0.0.1:" + sys.argv[1]) as ch:
    r = rpc.GreeterStub(ch).SayHello(pb.HelloRequest(name="world"), timeout=5)
print(r.message)
EOF
  ) || { log "$out"; die "$1: the Python grpc client failed"; }
  [[ $out == "Hello world" ]] || die "$1: Python client got '$out', wanted 'Hello world'"
}

# ---------------------------------------------------------------------------------------------
# Load.

declare -A RPS LAT NOTE # name,setting -> space-separated values, one per round

to_us() { # h2load duration (41us, 5.21ms, 1.02s) -> microseconds
  awk -v d="$1" 'BEGIN {
    if (d ~ /us$/) v = substr(d, 1, length(d) - 2)
    else if (d ~ /ms$/) v = substr(d, 1, length(d) - 2) * 1000
    else if (d ~ /s$/) v = substr(d, 1, length(d) - 1) * 1000000
    else v = d
    printf "%.0f", v }'
}

h2load_run() { # clients streams n output-file
  # In the background, so that a signal's trap runs at once rather than after the run.
  taskset -c "$LOAD_CPU" h2load -n "$3" -c "$1" -m "$2" \
    -H 'content-type: application/grpc' -H 'te: trailers' -d "$BODY" \
    "http://127.0.0.1:$PORT$PATH_SAYHELLO" >"$4" 2>&1 &
  LOAD_PID=$!
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=
  return "$rc"
}

measure() { # name setting round
  local name=$1 s=$2 c=${2%x*} m=${2#*x} out ok code2 rps mean
  local wf=$LOG_DIR/$name-$s-$3-warmup.h2load f=$LOG_DIR/$name-$s-$3.h2load
  h2load_run "$c" "$m" "$WARMUP" "$wf" || { cat "$wf" >&2; die "$name $s: h2load warm-up failed"; }
  h2load_run "$c" "$m" "$N" "$f" || { cat "$f" >&2; die "$name $s: h2load failed"; }
  out=$(<"$f")
  ok=$(awk '/^requests:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^succeeded/) print $i }' <<<"$out")
  code2=$(awk '/^status codes:/ { print $3 }' <<<"$out")
  rps=$(awk '/^finished in/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^req\/s/) print $i }' <<<"$out")
  mean=$(awk '/^time for request:/ { print $6 }' <<<"$out")
  [[ -n $rps && -n $mean ]] || { log "$out"; die "$name $s: cannot read h2load output"; }
  RPS[$name,$s]+=" ${rps%,}"
  LAT[$name,$s]+=" $(to_us "$mean")"
  if [[ $ok != "$N" || $code2 != "$N" ]]; then
    NOTE[$name,$s]="!! round $3: $ok/$N succeeded, $code2 2xx"
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during $s"
}

median() { # values...
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

best() { printf '%s\n' "$@" | sort -g | tail -1; }

spread() { # values... -> (max - min) / median, as a percentage
  local med
  med=$(median "$@")
  printf '%s\n' "$@" | sort -g | awk -v m="$med" '{ v[NR] = $1 } END { printf "%.0f%%", 100 * (v[NR] - v[1]) / m }'
}

ratio() { # a b
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'
}

# ---------------------------------------------------------------------------------------------

main() {
  [[ $# -le 1 && ${1:---build-only} == --build-only ]] || die "usage: unary.sh [--build-only]"
  mkdir -p "$BUILD/cpp" "$BUILD/go" "$LOG_DIR"
  local want_cpp=0 want_go=0 s name
  [[ " $SERVERS " == *" cpp "* || ${1:-} == --build-only ]] && want_cpp=1
  [[ " $SERVERS " == *" go "* || ${1:-} == --build-only ]] && want_go=1
  ((want_cpp)) && build_cpp
  ((want_go)) && build_go
  build_py
  build_body
  [[ ${1:-} == --build-only ]] && return 0

  need h2load "apt-get install -y nghttp2-client"
  need nghttp "apt-get install -y nghttp2-client"
  need taskset "apt-get install -y util-linux"

  local run=()
  for name in $SERVERS; do
    if [[ $name == host && ! -x $HOST_BIN ]]; then
      log "host: $HOST_BIN not found; skipped (build it, or set HOST_BIN)"
      continue
    fi
    run+=("$name")
  done
  ((${#run[@]})) || die "no server to measure"

  local round
  for ((round = 1; round <= ROUNDS; round++)); do
    for name in "${run[@]}"; do
      log "round $round/$ROUNDS, $name: starting on port $PORT (cpu $SERVER_CPU)"
      start_server "$name"
      check_server "$name"
      for s in $SETTINGS; do
        log "  -c ${s%x*} -m ${s#*x}: warm-up $WARMUP, then $N requests"
        measure "$name" "$s" "$round"
      done
      stop_server
    done
  done

  declare -A med
  for s in $SETTINGS; do
    for name in "${run[@]}"; do
      # shellcheck disable=SC2086
      med[$name,$s]=$(median ${RPS[$name,$s]})
    done
  done
  printf '\nUnary SayHello: h2load -n %s (after %s warm-up) on cpu %s, server on cpu %s; median of %s rounds\n' \
    "$N" "$WARMUP" "$LOAD_CPU" "$SERVER_CPU" "$ROUNDS"
  [[ " ${run[*]} " == *" host "* ]] && printf 'host: %s --workers 1 --no-watch %s\n' "$HOST_BIN" "${HOST_ARGS[*]}"
  printf '%-8s %-6s %9s %9s %7s %12s %9s %9s\n' setting server req/s best spread "mean lat us" host/cpp host/go
  for s in $SETTINGS; do
    for name in "${run[@]}"; do
      local rc=- rg=-
      if [[ $name == host ]]; then
        rc=$(ratio "${med[host,$s]}" "${med[cpp,$s]:-}")
        rg=$(ratio "${med[host,$s]}" "${med[go,$s]:-}")
      fi
      # shellcheck disable=SC2086
      printf '%-8s %-6s %9.0f %9.0f %7s %12.0f %9s %9s %s\n' "c${s%x*}m${s#*x}" "$name" "${med[$name,$s]}" \
        "$(best ${RPS[$name,$s]})" "$(spread ${RPS[$name,$s]})" "$(median ${LAT[$name,$s]})" "$rc" "$rg" "${NOTE[$name,$s]:-}"
    done
  done
  printf '(cCmM: C connections x M streams each; req/s, mean latency and ratios: medians over rounds;\n'
  printf ' best: highest req/s of a round; spread: (max-min)/median of req/s; h2load output in %s)\n' "$LOG_DIR"
}

main "$@"
