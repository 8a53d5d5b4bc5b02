#!/usr/bin/env bash
# What one message costs each server, in figures a busy machine does not blur (issue 17).
#
#   bench/cost.sh [--build-only]
#
# For each kind and server: instructions per message, counted by callgrind (valgrind), which
# counts the same on a quiet machine and a busy one; then, in a plain run, system calls and
# context switches per message (perf stat) and CPU time per message (task-clock: this one is
# blurred by other jobs). A message is a unary call, one of the replies of a server-streaming
# call, one request of a client-streaming call, or one ping-pong round trip of a bidi call.
# Each measurement: start the server (under valgrind for the instruction count), a warm-up of a
# tenth, counters zeroed (callgrind_control -z), the measured run, counters read
# (callgrind_control -d), stop. Instructions are user space only, every thread of the server
# (the C core's own threads too); the kernel's share is in the system calls.
#
# Kinds: unary-CxM (h2load, C connections x M streams, BODY's 10 B request), stream, client,
# bidi (bench/load, one call on one connection, as stream.sh). The table gives each figure per
# message and the ratios of BENCH_RATIOS; build/bench/logs/cost-SERVER-KIND.top has the
# functions that cost the most (callgrind_annotate, exclusive), and the callgrind profiles stay in
# build/bench/callgrind/ for callgrind_annotate or kcachegrind.
#
# Environment, besides lib.sh's (defaults in brackets):
#   BENCH_SERVERS     ["host hostlog core"]; of BENCH_SERVERS, host hostlog core cpp are measured
#                     (the others do not run under valgrind as they are started here)
#   BENCH_COST_KINDS  ["unary-1x100 unary-8x32 stream client bidi"]
#   BENCH_COST_N      messages per measured run [by kind: unary 10000, stream 20000, client
#                     20000, bidi 2000: counts vary by well under 1 % from run to run];
#                     BENCH_QUICK: a tenth
#   BENCH_COST_PERF   0: no perf stat run [1]
set -euo pipefail
NAME=cost.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_SERVERS=${BENCH_SERVERS:-host hostlog core}
WITH_HOSTLOG=1
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

KINDS=${BENCH_COST_KINDS:-unary-1x100 unary-8x32 stream client bidi}
CG_DIR=$BUILD/callgrind
declare -A KIND_N=([unary]=10000 [stream]=20000 [client]=20000 [bidi]=2000)
declare -A IR SYS CS CPU TOTALS # name,kind -> per message; TOTALS: name,kind -> "group Ir ..." per message

n_of() { # kind -> messages per measured run
  local n=${BENCH_COST_N:-${KIND_N[${1%%-*}]}}
  [[ ${BENCH_QUICK:-} == 1 && -z ${BENCH_COST_N:-} ]] && n=$((n / 10))
  printf '%s\n' "$n"
}

run_kind() { # kind n: the load, against the running server
  local kind=$1 n=$2
  case $kind in
  unary-*)
    local s=${kind#unary-} out
    out=$(taskset -c "$LOAD_CPU" h2load -n "$n" -c "${s%x*}" -m "${s#*x}" -H 'content-type: application/grpc' \
      -H 'te: trailers' -d "$BODY" "http://127.0.0.1:$PORT/helloworld.Greeter/SayHello" 2>&1) ||
      { log "$out"; die "$kind: h2load failed"; }
    grep -q "^requests: $n total, $n started, $n done, $n succeeded" <<<"$out" || { log "$out"; die "$kind: calls failed"; }
    ;;
  stream | client | bidi) load "$kind" -addr "127.0.0.1:$PORT" -n "$n" >/dev/null || die "$kind: load client failed" ;;
  *) die "unknown kind $kind (unary-CxM stream client bidi)" ;;
  esac
}

# The Ir of a callgrind profile, per library group: host (the host binary), peer (core_server,
# greeter_callback_server), lua, grpc (libgrpc, libgpr, upb, address_sorting), absl, c (libc, the
# loader: __tls_get_addr), c++ (libstdc++, libgcc), protobuf (libprotobuf, libprotobuf-c), other.
# Read from the profile itself: each cost line counts for the object of the last ob= line, except
# the line after calls=, which is the inclusive cost of that call. "(3) /path" names object 3.
groups() { # profile -> "group Ir" lines
  awk '
    function name(s,   id, rest) {
      if (!match(s, /^\([0-9]+\)/)) return s
      id = substr(s, 2, RLENGTH - 2); rest = substr(s, RLENGTH + 2)
      if (rest != "") names[id] = rest
      return names[id]
    }
    /^ob=/ { ob = name(substr($0, 4)); next }
    /^cob=/ { name(substr($0, 5)); next }
    /^calls=/ { skip = 1; next }
    /^[0-9+*-]/ { if (skip) skip = 0; else sum[ob] += $2 }
    END {
      for (o in sum) {
        b = o; sub(".*/", "", b); g = "other"
        if (b == "host") g = "host"
        else if (b == "core_server" || b == "greeter_callback_server") g = "peer"
        else if (b ~ /^liblua/) g = "lua"
        else if (b ~ /^lib(grpc|gpr|upb|address_sorting)/) g = "grpc"
        else if (b ~ /^libabsl/) g = "absl"
        else if (b ~ /^(libc\.|libm\.|ld-linux|libpthread)/) g = "c"
        else if (b ~ /^lib(stdc\+\+|gcc_s)/) g = "c++"
        else if (b ~ /^libprotobuf/) g = "protobuf"
        total[g] += sum[o]
      }
      for (g in total) print g, total[g]
    }' "$1"
}

measure_ir() { # name kind
  local name=$1 kind=$2 n out=$CG_DIR/$1-$2.out
  n=$(n_of "$kind")
  rm -f "$out" "$out".*
  SERVER_WRAP=(valgrind --tool=callgrind "--callgrind-out-file=$out")
  start_server "$name" "$SERVER_CPU" 1
  SERVER_WRAP=()
  run_kind "$kind" $((n / 10))
  callgrind_control -z "$SERVER_PID" >/dev/null
  run_kind "$kind" "$n"
  callgrind_control -d "$SERVER_PID" >/dev/null
  stop_server
  [[ -s $out.1 ]] || die "$name $kind: no callgrind dump ($out.1)"
  local ir
  ir=$(awk '/^summary:/ { print $2 }' "$out.1")
  IR[$name,$kind]=$(awk -v a="$ir" -v n="$n" 'BEGIN { printf "%.0f", a / n }')
  TOTALS[$name,$kind]=$(groups "$out.1" | awk -v n="$n" '{ printf "%s %.0f ", $1, $2 / n }')
  # The top functions by their own Ir; a thread's start frames (clone, below main) come out with
  # their callees' cost too, whatever --inclusive says: left out.
  callgrind_annotate --inclusive=no --threshold=100 --auto=no "$out.1" 2>/dev/null |
    awk -v n="$n" 'match($0, /^ *[0-9,]+ \( *[0-9.]+%\)  /) {
      c = $1; gsub(",", "", c); p = substr($0, 1, RLENGTH); sub(/.*\( */, "", p)
      if (p + 0 < 50) printf "%8.1f Ir/msg  %s\n", c / n, substr($0, RLENGTH + 1) }' |
    sed -n 1,40p >"$LOG_DIR/$NAME-$name-$kind.top"
  log "  $name $kind: ${IR[$name,$kind]} Ir/msg (${TOTALS[$name,$kind]})"
}

# A background job starts with SIGINT ignored, until perf sets its own handler: an INT sent before
# that is lost, and perf would count on until the server exits. So it is sent again while perf
# runs, for 5 s at most; then TERM (no figures).
stop_perf() { # pid
  local i
  for ((i = 0; i < 50; i++)); do
    kill -INT "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" || true
}

measure_sys() { # name kind: syscalls, context switches and CPU time per message, plain run
  local name=$1 kind=$2 n f=$LOG_DIR/$NAME-$1-$2.perf perf_pid
  n=$(n_of "$kind")
  start_server "$name" "$SERVER_CPU" 1
  run_kind "$kind" $((n / 10))
  perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock -p "$SERVER_PID" -o "$f" &
  perf_pid=$!
  sleep 0.2 # perf attaches
  run_kind "$kind" "$n"
  stop_perf "$perf_pid"
  stop_server
  SYS[$name,$kind]=$(awk -F, -v n="$n" '$3 == "raw_syscalls:sys_enter" { printf "%.2f", $1 / n }' "$f")
  CS[$name,$kind]=$(awk -F, -v n="$n" '$3 == "context-switches" { printf "%.3f", $1 / n }' "$f")
  CPU[$name,$kind]=$(awk -F, -v n="$n" '$3 == "task-clock" { printf "%.2f", $1 * 1000 / n }' "$f")
  log "  $name $kind: ${SYS[$name,$kind]} syscalls/msg, ${CS[$name,$kind]} cs/msg, ${CPU[$name,$kind]} us/msg"
}

label() { # kind -> the row's name
  case $1 in
  unary-*)
    local s=${1#unary-}
    printf 'unary c%sm%s' "${s%x*}" "${s#*x}"
    ;;
  stream) printf 'server streaming' ;;
  client) printf 'client streaming' ;;
  bidi) printf 'bidi ping-pong' ;;
  esac
}

main() {
  [[ $# -le 1 && ${1:---build-only} == --build-only ]] || die "usage: cost.sh [--build-only]"
  need taskset "apt-get install -y util-linux"
  build_all
  [[ ${1:-} == --build-only ]] && return 0
  need valgrind "apt-get install -y valgrind"
  need callgrind_control "apt-get install -y valgrind"
  need h2load "apt-get install -y nghttp2-client"
  local perf=${BENCH_COST_PERF:-1}
  if ((perf)) && ! perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    log "perf stat cannot count system calls here (apt-get install -y linux-perf; tracefs); instructions only"
    perf=0
  fi
  pick_servers
  local name kind keep=()
  for name in "${RUN[@]}"; do
    case $name in
    host | hostlog | core | cpp) keep+=("$name") ;;
    *) log "$name: not measured under valgrind here (host hostlog core cpp only); skipped" ;;
    esac
  done
  ((${#keep[@]})) || die "no server to measure (host hostlog core cpp)"
  RUN=("${keep[@]}")
  mkdir -p "$CG_DIR"
  START_SECS=120 # under valgrind the host needs seconds to load its scripts
  for kind in $KINDS; do
    for name in "${RUN[@]}"; do
      [[ $name == hostlog && $kind != unary-* ]] && continue
      measure_ir "$name" "$kind"
      ((perf)) && measure_sys "$name" "$kind"
    done
  done

  local pairs p
  pairs=$(ratio_pairs)
  printf '\nPer message: instructions (callgrind, user space, all threads), system calls, context switches\n'
  printf 'and CPU time (perf stat; blurred by other jobs); server on cpu %s, load on cpu %s\n' "$SERVER_CPU" "$LOAD_CPU"
  printf '%-18s %-7s %8s %9s %8s %8s' kind server n Ir/msg sys/msg "cpu us"
  for p in $pairs; do printf ' %11s' "$p"; done
  printf '  %s\n' "Ir/msg by library"
  for kind in $KINDS; do
    for name in "${RUN[@]}"; do
      [[ -n ${IR[$name,$kind]:-} ]] || continue
      printf '%-18s %-7s %8s %9s %8s %8s' "$(label "$kind")" "$name" "$(n_of "$kind")" "${IR[$name,$kind]}" \
        "${SYS[$name,$kind]:--}" "${CPU[$name,$kind]:--}"
      declare -A per=()
      local x
      for x in "${RUN[@]}"; do per[$x]=${IR[$x,$kind]:-}; done
      ratio_cells "$name" "$pairs" per
      printf '  %s\n' "${TOTALS[$name,$kind]}"
      record "instructions per message, $(label "$kind")" Ir low "$name" "${IR[$name,$kind]}"
    done
  done
  printf '(ratios: of Ir/msg, lower is cheaper; libraries: host = the host binary, peer = the peer'"'"'s\n'
  printf ' own code, grpc = libgrpc + libgpr + upb; top functions: %s/%s-SERVER-KIND.top)\n' "$LOG_DIR" "$NAME"
}

main "$@"
