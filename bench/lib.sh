# Shared by bench/stream.sh and bench/footprint.sh (sourced, not run). Expects the caller to have
# set BENCH_DIR and NAME (the script's name, for messages) and `set -euo pipefail`.
#
# Environment (defaults in brackets):
#   BENCH_BUILD_DIR   build outputs [<repo>/build/bench]; nothing is written to the source tree
#   HOST_BIN          the host binary [<repo>/build/host]
#   HOST_PROTOSET     [<repo>/build/protoset.pb]
#   BENCH_SCRIPTS     the host's scripts [<repo>/bench/scripts]: greeter.lua with x-count
#   BENCH_HOST_ARGS   extra arguments for the host [--quiet]
#   BENCH_PORT        port the servers listen on, one at a time [31152]: keep it out of the
#                     ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), or the cold-start
#                     connect loop may connect a socket to itself and take the port
#   BENCH_SERVER_CPU  core of the server [0]         BENCH_LOAD_CPU  core of the load client [1]
#   BENCH_QUIET       unset: measure at once; P: before each round, wait until other jobs use less
#                     than P% of the CPU for 5 s (at most BENCH_QUIET_WAIT [900] s)

ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/bench}
HOST_BIN=${HOST_BIN:-$ROOT/build/host}
HOST_PROTOSET=${HOST_PROTOSET:-$ROOT/build/protoset.pb}
BENCH_SCRIPTS=${BENCH_SCRIPTS:-$BENCH_DIR/scripts}
read -r -a HOST_ARGS <<<"${BENCH_HOST_ARGS---quiet}"
PROTO_DIR=$ROOT/proto
PORT=${BENCH_PORT:-31152}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
CPP_BIN=$BUILD/cpp/greeter_callback_server
GO_BIN=$BUILD/go/greeter_server
LOAD_BIN=$BUILD/go/load
LOG_DIR=$BUILD/logs
mkdir -p "$LOG_DIR"

log() { printf '%s\n' "$*" >&2; }
die() { log "$NAME: $*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (${2:-})"; }

# ---------------------------------------------------------------------------------------------
# Build: the peers by unary.sh (which also regenerates the Go stubs greeterbench/helloworld), then
# the load client in the same GOPATH.

build_all() {
  "$BENCH_DIR/unary.sh" --build-only
  local src=$BENCH_DIR/load stubs=$BUILD/go/gopath/src/greeterbench/helloworld
  [[ -e $LOAD_BIN && $LOAD_BIN -nt $src/main.go && $LOAD_BIN -nt $stubs/helloworld_grpc.pb.go ]] && return 0
  log "building $LOAD_BIN"
  (cd "$src" && env GO111MODULE=off GOPATH="$BUILD/go/gopath:/usr/share/gocode" \
    GOCACHE="$BUILD/go/cache" HOME="$BUILD/go/home" GOFLAGS= go build -o "$LOAD_BIN.tmp" .)
  mv "$LOAD_BIN.tmp" "$LOAD_BIN"
}

# ---------------------------------------------------------------------------------------------
# Servers. One runs at a time, on $PORT; the EXIT trap stops whichever is running.
#   start_server NAME CPUS [WORKERS]   host: --workers WORKERS [1]; go: GOMAXPROCS=WORKERS [1]

SERVER_PID=
SERVER_NAME=
BG_PID=   # a load generator being waited for
IDLE_PID= # footprint.sh's idle-stream client, running meanwhile

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  local pid=$SERVER_PID i
  SERVER_PID=
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
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
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

server_cmd() { # name cpus workers -> SERVER_CMD array (without the environment)
  case $1 in
  host) SERVER_CMD=(taskset -c "$2" "$HOST_BIN" --port "$PORT" --address 127.0.0.1 --workers "$3"
    --protoset "$HOST_PROTOSET" --scripts "$BENCH_SCRIPTS" --no-watch "${HOST_ARGS[@]}") ;;
  go) SERVER_CMD=(env GOMAXPROCS="$3" taskset -c "$2" "$GO_BIN" -port "$PORT") ;;
  cpp) SERVER_CMD=(taskset -c "$2" "$CPP_BIN" --port "$PORT") ;;
  *) die "unknown server $1" ;;
  esac
}

start_server() { # name cpus [workers]
  local name=$1 logf=$LOG_DIR/$NAME-$1.log i
  SERVER_NAME=$name
  port_open "$PORT" && die "port $PORT is already in use (set BENCH_PORT)"
  server_cmd "$name" "$2" "${3:-1}"
  : >"$logf"
  # exec: `env` and `taskset` exec the server, so $! is the server's own pid (for /proc).
  "${SERVER_CMD[@]}" >"$logf" 2>&1 &
  SERVER_PID=$!
  local by_log=0
  [[ $name == host ]] && by_log=1
  for ((i = 0; i < 200; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited during start-up"; }
    if ((!by_log)) || grep -q 'msg=ready' "$logf"; then
      port_open "$PORT" && return 0
    fi
    sleep 0.05
  done
  cat "$logf" >&2
  die "$name not ready on port $PORT after 10 s"
}

load() { # load-client arguments...; runs pinned to $LOAD_CPU, in the background so traps run
  taskset -c "$LOAD_CPU" "$LOAD_BIN" "$@" &
  BG_PID=$!
  local rc=0
  wait "$BG_PID" || rc=$?
  BG_PID=
  return "$rc"
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
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2fx", a / b }'
}
kv() { # key line -> value of key=value in line
  tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'
}
