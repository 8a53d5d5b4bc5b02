#!/usr/bin/env bash
# Unary SayHello throughput of the host against hand-written servers (issue 8).
#
#   bench/unary.sh [--build-only]
#
# Builds the peers (skipping what is up to date), then for each server in turn: starts it pinned
# to one core, checks for each request size that the exact request h2load sends is answered with
# grpc-status 0 (and that a Python grpc client gets "Hello " + its name back), runs h2load pinned
# to the other core for each case (a warm-up, then a measured run), stops it, and prints one table
# with the host's ratio to each peer. All that is done BENCH_ROUNDS times, servers taking turns so
# that drift in the machine's speed hits them alike; the table gives each figure's median over the
# rounds, the best req/s, and the spread of req/s ((max-min)/median): a wide spread means
# something else was using the cores (on a shared machine, the best round is then the closer
# estimate). Servers: host hostlog core cpp go js python (see lib.sh).
#
# Cases: the first size of BENCH_SIZES at each setting of BENCH_SETTINGS, every other size at each
# of BENCH_SIZE_SETTINGS. A request of size S is HelloRequest{name: S bytes of "x"} (the reply is
# "Hello " + name, S + 6 bytes); above 1 KiB, a run makes N * 1024 / S requests (at least 20, and
# at least the number of connections), its warm-up likewise, so that each run takes about as long.
#
# Environment, besides lib.sh's (defaults in brackets):
#   HOST_SCRIPTS      the host's scripts here [<repo>/scripts] (stream.sh and footprint.sh use
#                     BENCH_SCRIPTS); SayHello is the same in both
#   BENCH_SIZES       request name sizes in bytes ["10 1024 65536 1048576"]
#   BENCH_SETTINGS    h2load connections x streams per connection, first size ["1x1 1x10 1x100 8x32
#                     8x100"]: 8x32 and 1x100 are the shapes of the targets (issue 17)
#   BENCH_SIZE_SETTINGS  the same for the other sizes ["1x100"]
#   BENCH_N           requests per measured run up to 1 KiB [200000]
#   BENCH_WARMUP      requests per warm-up run up to 1 KiB [20000]
#   BENCH_ROUNDS      rounds over all servers and cases [3]
#   BENCH_PORT        [50151]
set -euo pipefail
NAME=unary.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${BENCH_PORT:-50151}
WITH_HOSTLOG=1
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

BENCH_SCRIPTS=${HOST_SCRIPTS:-$ROOT/scripts}
SIZES=${BENCH_SIZES:-10 1024 65536 1048576}
SETTINGS=${BENCH_SETTINGS:-1x1 1x10 1x100 8x32 8x100}
SIZE_SETTINGS=${BENCH_SIZE_SETTINGS:-1x100}
N=${BENCH_N:-200000}
WARMUP=${BENCH_WARMUP:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
PATH_SAYHELLO=/helloworld.Greeter/SayHello

body() { printf '%s/sayhello-%s.bin' "$BUILD" "$1"; } # size -> its request body file

build_bodies() { # one framed HelloRequest per size: 5-byte gRPC frame header + the message
  local size f
  for size in $SIZES; do
    f=$(body "$size")
    [[ -s $f ]] && continue
    "$PYTHON" - "$size" "$f" <<'EOF'
import struct, sys
n = int(sys.argv[1])
v, x = bytearray(), n
while True:  # varint length of field 1
    v.append((x & 0x7F) | (0x80 if x >> 7 else 0))
    x >>= 7
    if not x:
        break
m = b"\x0a" + bytes(v) + b"x" * n
with open(sys.argv[2], "wb") as f:
    f.write(b"\x00" + struct.pack(">I", len(m)) + m)
EOF
  done
}

CASES=() # size:setting
for size in $SIZES; do
  if [[ $size == "${SIZES%% *}" ]]; then
    for s in $SETTINGS; do CASES+=("$size:$s"); done
  else
    for s in $SIZE_SETTINGS; do CASES+=("$size:$s"); done
  fi
done

n_for() { # size base connections -> requests for a run of that size
  awk -v s="$1" -v b="$2" -v c="$3" 'BEGIN { n = b; if (s > 1024) n = int(b * 1024 / s)
    if (n < 20) n = 20; if (n < c) n = c; print n }'
}

# h2load counts a gRPC error as a success (HTTP 200, the status is in the trailers), so before
# the load each server must answer the very requests h2load sends with grpc-status 0, and a real
# gRPC client must get the right reply.
check_server() { # name
  local out size
  for size in $SIZES; do
    out=$(nghttp -v -n -d "$(body "$size")" -H 'content-type: application/grpc' -H 'te: trailers' \
      "http://127.0.0.1:$PORT$PATH_SAYHELLO" 2>&1 | tr -d '\0') || true
    grep -q 'recv (stream_id=[0-9]*) grpc-status: 0$' <<<"$out" ||
      { log "$out"; die "$1: the h2load request of $size bytes did not get grpc-status 0"; }
  done
  if [[ -n ${SKIP[python]:-} ]]; then
    log "  no Python client check: ${SKIP[python]}"
    return 0
  fi
  # shellcheck disable=SC2086
  out=$(PYTHONPATH=$PY_DIR "$PYTHON" - "$PORT" $SIZES 2>&1 <<'EOF'
import sys, grpc, helloworld_pb2 as pb, helloworld_pb2_grpc as rpc
with grpc.insecure_channel("127.0.0.1:" + sys.argv[1]) as ch:
    stub = rpc.GreeterStub(ch)
    for size in map(int, sys.argv[2:]):
        name = "x" * size
        r = stub.SayHello(pb.HelloRequest(name=name), timeout=10)
        if r.message != "Hello " + name:
            sys.exit("size %d: got %d bytes %r..." % (size, len(r.message), r.message[:20]))
    print(stub.SayHello(pb.HelloRequest(name="world"), timeout=5).message)
EOF
  ) || { log "$out"; die "$1: the Python grpc client failed"; }
  [[ $out == "Hello world" ]] || die "$1: Python client got '$out', wanted 'Hello world'"
}

# ---------------------------------------------------------------------------------------------
# Load.

declare -A RPS LAT NOTE # name,case -> space-separated values, one per round

to_us() { # h2load duration (41us, 5.21ms, 1.02s) -> microseconds
  awk -v d="$1" 'BEGIN {
    if (d ~ /us$/) v = substr(d, 1, length(d) - 2)
    else if (d ~ /ms$/) v = substr(d, 1, length(d) - 2) * 1000
    else if (d ~ /s$/) v = substr(d, 1, length(d) - 1) * 1000000
    else v = d
    printf "%.0f", v }'
}

measure() { # name case round
  local name=$1 k=$2 size=${2%%:*} s=${2#*:} out ok code2 rps mean n w
  local c=${s%x*} m=${s#*x} f=$LOG_DIR/$NAME-$name-$size-$s-$3.h2load
  n=$(n_for "$size" "$N" "$c") w=$(n_for "$size" "$WARMUP" "$c")
  log "  $(size_label "$size"), -c $c -m $m: warm-up $w, then $n requests"
  h2load_run "$c" "$m" "$w" "$(body "$size")" "$f" || { cat "$f" >&2; die "$name $k: h2load warm-up failed"; }
  h2load_run "$c" "$m" "$n" "$(body "$size")" "$f" || { cat "$f" >&2; die "$name $k: h2load failed"; }
  out=$(<"$f")
  ok=$(awk '/^requests:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^succeeded/) print $i }' <<<"$out")
  code2=$(awk '/^status codes:/ { print $3 }' <<<"$out")
  rps=$(awk '/^finished in/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^req\/s/) print $i }' <<<"$out")
  mean=$(awk '/^time for request:/ { print $6 }' <<<"$out")
  [[ -n $rps && -n $mean ]] || { log "$out"; die "$name $k: cannot read h2load output"; }
  RPS[$name,$k]+=" ${rps%,}"
  LAT[$name,$k]+=" $(to_us "$mean")"
  if [[ $ok != "$n" || $code2 != "$n" ]]; then
    NOTE[$name,$k]="!! round $3: $ok/$n succeeded, $code2 2xx"
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || die "$name died during $k"
}

# ---------------------------------------------------------------------------------------------

main() {
  [[ $# -le 1 && ${1:---build-only} == --build-only ]] || die "usage: unary.sh [--build-only]"
  build_peers "${1:+all}"
  build_bodies
  [[ ${1:-} == --build-only ]] && return 0

  need h2load "apt-get install -y nghttp2-client"
  need nghttp "apt-get install -y nghttp2-client"
  need taskset "apt-get install -y util-linux"
  pick_servers

  local round name k loads=''
  for ((round = 1; round <= ROUNDS; round++)); do
    for name in "${RUN[@]}"; do
      local o
      wait_quiet
      o=$(others)
      loads+=" [$name $o]"
      log "round $round/$ROUNDS, $name: starting on port $PORT (cpu $SERVER_CPU; $o)"
      start_server "$name" "$SERVER_CPU" 1
      check_server "$name"
      for k in "${CASES[@]}"; do
        measure "$name" "$k" "$round"
      done
      stop_server
    done
  done

  local pairs p
  pairs=$(ratio_pairs)
  printf '\nUnary SayHello: h2load on cpu %s, server on cpu %s; median of %s rounds; up to 1 KiB -n %s after\n' \
    "$LOAD_CPU" "$SERVER_CPU" "$ROUNDS" "$N"
  printf ' a warm-up of %s, fewer above (see the header)\n' "$WARMUP"
  [[ " ${RUN[*]} " == *" host "* ]] &&
    printf 'host: %s --workers 1 --scripts %s --no-watch %s\n' "$HOST_BIN" "$BENCH_SCRIPTS" "${HOST_ARGS[*]}"
  printf '%-7s %-8s %-7s %9s %9s %7s %12s' size setting server req/s best spread "mean lat us"
  for p in $pairs; do printf ' %11s' "$p"; done
  printf '\n'
  for k in "${CASES[@]}"; do
    local size=${k%%:*} s=${k#*:} label
    label="unary $(size_label "$size") c${s%x*}m${s#*x}"
    declare -A med=()
    for name in "${RUN[@]}"; do
      # shellcheck disable=SC2086
      med[$name]=$(median ${RPS[$name,$k]})
      record "$label" req/s high "$name" "$(printf '%.0f' "${med[$name]}")"
    done
    for name in "${RUN[@]}"; do
      # shellcheck disable=SC2086
      printf '%-7s %-8s %-7s %9.0f %9.0f %7s %12.0f' "$(size_label "$size" | tr -d ' ')" "c${s%x*}m${s#*x}" \
        "$name" "${med[$name]}" "$(best ${RPS[$name,$k]})" "$(spread ${RPS[$name,$k]})" "$(median ${LAT[$name,$k]})"
      ratio_cells "$name" "$pairs" med
      printf ' %s\n' "${NOTE[$name,$k]:-}"
    done
  done
  printf '(cCmM: C connections x M streams each; req/s, mean latency and ratios: medians over rounds;\n'
  printf ' best: highest req/s of a round; spread: (max-min)/median of req/s; h2load output in %s)\n' "$LOG_DIR"
  printf 'Before each server'"'"'s turn (1-min load average; busy: CPU use of all cores over 1 s, ours idle):\n'
  printf '%s\n' "$loads" | fold -s -w 100
}

main "$@"
