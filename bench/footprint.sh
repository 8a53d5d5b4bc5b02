#!/usr/bin/env bash
# Footprint and scaling of the host against the peers (issue 8).
#
#   bench/footprint.sh [--build-only]
#
# Parts (BENCH_PARTS, in this order by default):
#   cold     exec to the first answered SayHello: the load client (bench/load, on the load core)
#            execs the server (on the server core), connects in a tight retry loop (no sleeps),
#            calls SayHello and kills the server; median of BENCH_COLD_RUNS runs per round.
#            All servers. The time includes taskset's own exec (and, for js and python, the
#            interpreter's start and its loading of grpc).
#   idle     RSS after start (msg=ready / port open), and after one answered SayHello. All servers.
#   streams  then, in the same process, BENCH_CONNS connections x BENCH_STREAMS bidi streams that
#            stay open and idle (one ping each, so the server runs a handler for each): RSS with
#            them, memory per stream ((RSS with streams - idle RSS) / streams), a check that 100
#            more calls are answered meanwhile, RSS once the client has gone, and the same again
#            (reuse, not growth). For the host, also the Lua state's share per stream (greeter.lua
#            reports collectgarbage("count") when asked with x-lua-kb). Servers: host
#            (--max-streams BENCH_STREAMS), go, cpp (C core + C++ reactors: a bound on the C
#            core's own share of the host's figure), js; not python, whose grpcio runs each
#            streaming call on one of its pool's 10 threads until the call ends: the other
#            streams would wait unanswered.
#   growth   RSS of a fresh server after 1 call, then after 100k, 250k, 500k and 1M unary calls
#            (h2load -c 10 -m 10, new connections at each step): it should not grow.
#            All servers.
#   workers  unary throughput (h2load -c 8 -m 100) of 2 workers against 1. The machine has 2 cores
#            only, so with 2 workers the load generator shares their cores; three set-ups:
#              pinned  server 1 worker on core 0, h2load -t 1 on core 1 (as bench/unary.sh)
#              1w      server 1 worker, h2load -t 2, both free to use cores 0-1
#              2w      server 2 workers, h2load -t 2, both free to use cores 0-1
#            2w/1w is the scaling under equal sharing. Servers: host (--workers) and go (GOMAXPROCS);
#            not cpp, whose callback API runs on the C core's own threads, nor js (one event
#            loop) and python (grpcio's thread pool under one interpreter lock), which have no
#            such knob.
# Each part runs BENCH_ROUNDS rounds with the servers taking turns; tables give medians over
# rounds and the spread ((max-min)/median). Under each table: what other jobs were doing before
# each round (1-minute load average; busy: CPU use of all cores over 1 s while ours is idle).
#
# Environment, besides lib.sh's (defaults in brackets):
#   BENCH_PARTS  ["cold idle streams growth workers"] (idle is measured with streams)
#   BENCH_ROUNDS [3]   BENCH_COLD_RUNS [20]
#   BENCH_CONNS [100]   BENCH_STREAMS [100] (per connection)
#   BENCH_GROWTH_STEPS ["100000 250000 500000 1000000"]: calls done at each RSS reading (the
#                first step and the last are compared)
#   BENCH_WORKERS_N [200000] requests per measured workers run (after a tenth as warm-up)
set -euo pipefail
NAME=footprint.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

PARTS=${BENCH_PARTS:-cold idle streams growth workers}
ROUNDS=${BENCH_ROUNDS:-3}
COLD_RUNS=${BENCH_COLD_RUNS:-20}
CONNS=${BENCH_CONNS:-100}
STREAMS=${BENCH_STREAMS:-100}
WORKERS_N=${BENCH_WORKERS_N:-200000}
GROWTH_STEPS=${BENCH_GROWTH_STEPS:-100000 250000 500000 1000000}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

servers_for() { # part -> the servers of RUN (pick_servers) that the part measures
  local s out=()
  for s in "${RUN[@]}"; do
    case $1 in
    streams) [[ $s == python ]] && continue ;;
    workers) [[ $s == host || $s == go ]] || continue ;;
    esac
    out+=("$s")
  done
  printf '%s\n' "${out[*]}"
}

# ---------------------------------------------------------------------------------------------

part_cold() {
  local name round out
  declare -A MED MIN MAX CONN REDIAL
  local oth='' o
  for ((round = 1; round <= ROUNDS; round++)); do
    wait_quiet
    o=$(others)
    oth+=" [round $round: $o]"
    for name in $(servers_for cold); do
      server_cmd "$name" "$SERVER_CPU" 1
      [[ ${SERVER_CMD[0]} == env ]] && SERVER_CMD=(/usr/bin/env "${SERVER_CMD[@]:1}")
      out=$(load cold -addr "127.0.0.1:$PORT" -runs "$COLD_RUNS" -log "$LOG_DIR/$NAME-cold-$name.log" \
        -- "${SERVER_CMD[@]}") || die "cold $name failed"
      log "  cold $name round $round: $out"
      MED[$name]+=" $(kv median_ms "$out")"
      MIN[$name]+=" $(kv min_ms "$out")"
      MAX[$name]+=" $(kv max_ms "$out")"
      CONN[$name]+=" $(kv connect_median_ms "$out")"
      REDIAL[$name]=$((${REDIAL[$name]:-0} + $(kv redials "$out")))
    done
  done
  printf '\nCold start: exec (taskset + server) to the first answered SayHello; %s runs a round, %s rounds\n' \
    "$COLD_RUNS" "$ROUNDS"
  printf '%-6s %10s %8s %8s %8s %11s %8s\n' server "median ms" spread "min ms" "max ms" "connect ms" redials
  for name in $(servers_for cold); do
    # shellcheck disable=SC2086
    printf '%-6s %10.2f %8s %8.2f %8.2f %11.2f %8s\n' "$name" "$(median ${MED[$name]})" "$(spread ${MED[$name]})" \
      "$(lowest ${MIN[$name]})" "$(best ${MAX[$name]})" "$(median ${CONN[$name]})" "${REDIAL[$name]}"
    # shellcheck disable=SC2086
    record "cold start, exec to first reply" ms low "$name" "$(printf '%.2f' "$(median ${MED[$name]})")"
  done
  printf '(median ms: median over rounds of each round'"'"'s median; min/max: over all runs; connect ms: exec to\n'
  printf ' the first accepted TCP connection, median; redials: runs whose first connection failed)\n'
  printf 'Before each round:%s\n' "$oth" | fold -s -w 100
}

# ---------------------------------------------------------------------------------------------

wait_line() { # file pattern seconds: waits for the idle client's line
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$IDLE_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

OPEN_SECS='' OPEN_RSS='' OPEN_ANON='' OPEN_LUA='' AFTER_RSS='' AFTER_LUA=''

lua_kb() { kv kb "$(load luamem -addr "127.0.0.1:$PORT")"; } # the host's Lua state, KiB

open_streams() { # name pass: CONNS x STREAMS idle bidi streams; sets OPEN_* and AFTER_RSS
  local f=$LOG_DIR/$NAME-idle-$1-$2.out
  taskset -c "$LOAD_CPU" "$LOAD_BIN" idle -addr "127.0.0.1:$PORT" -conns "$CONNS" -streams "$STREAMS" \
    >"$f" 2>&1 &
  IDLE_PID=$!
  wait_line "$f" '^ready' 300 || { cat "$f" >&2; die "$1: idle streams not opened"; }
  OPEN_SECS=$(kv secs "$(grep '^ready' "$f")")
  sleep 1
  OPEN_RSS=$(rss_kb) OPEN_ANON=$(anon_kb) OPEN_LUA=
  [[ $1 == host ]] && OPEN_LUA=$(lua_kb)
  load unary -addr "127.0.0.1:$PORT" -n 100 >/dev/null || die "$1: calls failed with the streams open"
  kill -TERM "$IDLE_PID"
  wait "$IDLE_PID" 2>/dev/null || true
  IDLE_PID=
  sleep 2
  AFTER_RSS=$(rss_kb) AFTER_LUA=
  # For the host, a full Lua collection (what luamem does) before the next pass: without it the
  # closed streams' coroutines wait for the next GC cycle, which an idle server does not reach
  # soon, and a second pass would add their 1.3 KB each on top.
  [[ $1 == host ]] && AFTER_LUA=$(lua_kb)
  return 0
}

part_streams() {
  local name round total=$((CONNS * STREAMS)) oth='' o a b LUA=''
  declare -A R0 R1 A1 R2 A2 R3 R4 R5 OPEN
  for ((round = 1; round <= ROUNDS; round++)); do
    wait_quiet
    o=$(others)
    oth+=" [round $round: $o]"
    for name in $(servers_for idle); do
      if [[ $name == host ]]; then
        local saved=("${HOST_ARGS[@]}")
        HOST_ARGS+=(--max-streams "$STREAMS")
        start_server host "$SERVER_CPU" 1
        HOST_ARGS=("${saved[@]}")
      else
        start_server "$name" "$SERVER_CPU" 1
      fi
      sleep 0.5
      R0[$name]+=" $(rss_kb)"
      load unary -addr "127.0.0.1:$PORT" -n 1 >/dev/null || die "$name: first call failed"
      sleep 0.5
      a=$(rss_kb) b=$(anon_kb)
      R1[$name]+=" $a"
      A1[$name]+=" $b"
      if [[ " $PARTS " == *" streams "* && " $(servers_for streams) " == *" $name "* ]]; then
        local l=
        [[ $name == host ]] && l=$(lua_kb)
        open_streams "$name" 1
        R2[$name]+=" $OPEN_RSS" A2[$name]+=" $OPEN_ANON" R3[$name]+=" $AFTER_RSS" OPEN[$name]+=" $OPEN_SECS"
        [[ $name == host ]] && LUA+=" $(awk -v a="$l" -v b="$OPEN_LUA" -v n=$total 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')"
        log "  $name round $round ($o): idle rss ${a}k anon ${b}k; with $total streams ${OPEN_RSS}k" \
          "anon ${OPEN_ANON}k; per stream $(((OPEN_RSS - a) * 1024 / total)) B; after release ${AFTER_RSS}k" \
          "${l:+; Lua state ${l}k -> ${OPEN_LUA}k -> ${AFTER_LUA}k after release and a full GC}"
        open_streams "$name" 2
        R4[$name]+=" $OPEN_RSS" R5[$name]+=" $AFTER_RSS"
        log "  $name round $round: again: with $total streams ${OPEN_RSS}k; after release ${AFTER_RSS}k"
      else
        log "  $name round $round ($o): idle rss ${a}k anon ${b}k"
      fi
      stop_server
    done
  done
  printf '\nIdle RSS (%s rounds, medians; MB = MiB)\n' "$ROUNDS"
  printf '%-6s %10s %12s %12s\n' server "at ready" "after 1 call" "anon"
  for name in $(servers_for idle); do
    # shellcheck disable=SC2086
    printf '%-6s %10s %12s %12s\n' "$name" "$(mb "$(median ${R0[$name]})")" "$(mb "$(median ${R1[$name]})")" \
      "$(mb "$(median ${A1[$name]})")"
    # shellcheck disable=SC2086
    record "idle RSS after 1 call" MiB low "$name" "$(mb "$(median ${R1[$name]})")"
  done
  if [[ " $PARTS " == *" streams "* ]]; then
    printf '\nIdle streams: %s connections x %s bidi streams open and idle (%s rounds, medians; MB = MiB)\n' \
      "$CONNS" "$STREAMS" "$ROUNDS"
    printf '%-6s %8s %8s %8s %9s %7s %7s %8s %8s %8s\n' server "idle MB" "strm MB" "anon MB" "B/stream" spread \
      "open s" "after MB" "2nd strm" "2nd aftr"
    for name in $(servers_for streams); do
      local per=() i r1 r2
      read -r -a r1 <<<"${R1[$name]}"
      read -r -a r2 <<<"${R2[$name]}"
      for i in "${!r1[@]}"; do per+=($(((r2[i] - r1[i]) * 1024 / total))); done
      # shellcheck disable=SC2086
      printf '%-6s %8s %8s %8s %9s %7s %7s %8s %8s %8s\n' "$name" "$(mb "$(median ${R1[$name]})")" \
        "$(mb "$(median ${R2[$name]})")" "$(mb "$(median ${A2[$name]})")" "$(median "${per[@]}")" \
        "$(spread "${per[@]}")" "$(median ${OPEN[$name]})" "$(mb "$(median ${R3[$name]})")" \
        "$(mb "$(median ${R4[$name]})")" "$(mb "$(median ${R5[$name]})")"
      record "memory per idle stream ($total open)" B low "$name" "$(median "${per[@]}")"
    done
    [[ " ${RUN[*]} " == *" python "* ]] &&
      printf 'python: no idle streams: grpcio serves each streaming call on one of its 10 pool threads\n until the call ends; the other streams would wait unanswered\n'

    printf '(B/stream: (RSS with streams - RSS after 1 call) / %s; open s: time to open them all; 100 unary\n' "$total"
    printf ' calls were answered with them open; after: RSS 2 s after the client closed them; 2nd: the same\n'
    printf ' again in the same process (the host after a full Lua GC): no growth = memory reused)\n'
    # shellcheck disable=SC2086
    [[ -n $LUA ]] && printf 'host: of its B/stream, its Lua state holds %s B (collectgarbage("count"), median; rounds:%s)\n' \
      "$(median $LUA)" "$LUA"
  fi
  printf 'Before each round:%s\n' "$oth" | fold -s -w 100
}

# ---------------------------------------------------------------------------------------------

h2load_n() { # n clients streams cpus threads output
  taskset -c "$4" h2load -n "$1" -c "$2" -m "$3" -t "$5" -H 'content-type: application/grpc' -H 'te: trailers' \
    -d "$BODY" "http://127.0.0.1:$PORT/helloworld.Greeter/SayHello" >"$6" 2>&1 &
  BG_PID=$!
  local rc=0
  wait "$BG_PID" || rc=$?
  BG_PID=
  ((rc == 0)) || { cat "$6" >&2; die "h2load failed"; }
  local ok
  ok=$(awk '/^requests:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^succeeded/) print $i }' "$6")
  [[ $ok == "$1" ]] || { cat "$6" >&2; die "h2load: $ok/$1 succeeded"; }
}

part_growth() {
  local name round done_n step oth='' o f=$LOG_DIR/$NAME-growth.h2load
  declare -A G
  for ((round = 1; round <= ROUNDS; round++)); do
    wait_quiet
    o=$(others)
    oth+=" [round $round: $o]"
    for name in $(servers_for growth); do
      start_server "$name" "$SERVER_CPU" 1
      load unary -addr "127.0.0.1:$PORT" -n 1 >/dev/null || die "$name: first call failed"
      G[$name,1]+=" $(rss_kb)"
      done_n=0
      local line="  $name round $round: 1:$(rss_kb)k"
      for step in $GROWTH_STEPS; do
        h2load_n $((step - done_n)) 10 10 "$LOAD_CPU" 1 "$f"
        done_n=$step
        G[$name,$step]+=" $(rss_kb)"
        line+=" $step:$(rss_kb)k"
      done
      log "$line"
      stop_server
    done
  done
  printf '\nRSS growth over %s unary calls (h2load -c 10 -m 10 on cpu %s; MiB, median of %s rounds)\n' \
    "${GROWTH_STEPS##* }" "$LOAD_CPU" "$ROUNDS"
  printf '%-6s %8s' server "1 call"
  for step in $GROWTH_STEPS; do printf ' %8s' "$((step / 1000))k"; done
  local first last
  first=${GROWTH_STEPS%% *} last=${GROWTH_STEPS##* }
  printf ' %10s\n' "last-first"
  for name in $(servers_for growth); do
    # shellcheck disable=SC2086
    printf '%-6s %8s' "$name" "$(mb "$(median ${G[$name,1]})")"
    # shellcheck disable=SC2086
    for step in $GROWTH_STEPS; do printf ' %8s' "$(mb "$(median ${G[$name,$step]})")"; done
    local d=() i a b
    read -r -a a <<<"${G[$name,$first]}"
    read -r -a b <<<"${G[$name,$last]}"
    for i in "${!a[@]}"; do d+=($((b[i] - a[i]))); done
    printf ' %8s kB\n' "$(median "${d[@]}")"
    record "RSS growth, $first to $last calls" kB - "$name" "$(median "${d[@]}")"
  done
  printf 'Before each round:%s\n' "$oth" | fold -s -w 100
}

# ---------------------------------------------------------------------------------------------

part_workers() {
  local name round setup oth='' o f=$LOG_DIR/$NAME-workers.h2load rps
  declare -A W
  local setups="pinned 1w 2w"
  for ((round = 1; round <= ROUNDS; round++)); do
    wait_quiet
    o=$(others)
    oth+=" [round $round: $o]"
    for name in $(servers_for workers); do
      for setup in $setups; do
        case $setup in
        pinned) start_server "$name" "$SERVER_CPU" 1 ;;
        1w) start_server "$name" 0,1 1 ;;
        2w) start_server "$name" 0,1 2 ;;
        esac
        local cpus=0,1 t=2
        [[ $setup == pinned ]] && cpus=$LOAD_CPU t=1
        h2load_n $((WORKERS_N / 10)) 8 100 "$cpus" "$t" "$f"
        h2load_n "$WORKERS_N" 8 100 "$cpus" "$t" "$f"
        rps=$(awk '/^finished in/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^req\/s/) print $i }' "$f")
        W[$name,$setup]+=" ${rps%,}"
        log "  $name $setup round $round: ${rps%,} req/s"
        stop_server
      done
    done
  done
  printf '\nWorkers: unary SayHello, h2load -c 8 -m 100 -n %s (req/s, median of %s rounds)\n' \
    "$WORKERS_N" "$ROUNDS"
  printf '%-6s %10s %10s %10s %8s %8s %8s %8s\n' server pinned 1w 2w "spr 1w" "spr 2w" 2w/1w 2w/pinned
  for name in $(servers_for workers); do
    local p o w
    # shellcheck disable=SC2086
    p=$(median ${W[$name,pinned]}) o=$(median ${W[$name,1w]}) w=$(median ${W[$name,2w]})
    # shellcheck disable=SC2086
    printf '%-6s %10.0f %10.0f %10.0f %8s %8s %8s %8s\n' "$name" "$p" "$o" "$w" "$(spread ${W[$name,1w]})" \
      "$(spread ${W[$name,2w]})" "$(ratio "$w" "$o")" "$(ratio "$w" "$p")"
    record "2 workers / 1 worker, unary c8m100" x high "$name" "$(awk -v a="$w" -v b="$o" 'BEGIN { printf "%.2f", a / b }')"
  done
  printf '(pinned: 1 worker on cpu %s, h2load -t 1 on cpu %s; 1w/2w: 1 or 2 workers (go: GOMAXPROCS) with\n' \
    "$SERVER_CPU" "$LOAD_CPU"
  printf ' h2load -t 2, all on cpus 0-1: only 2 cores, so the load generator takes from the workers'"'"' cores)\n'
  printf 'Before each round:%s\n' "$oth" | fold -s -w 100
}

# ---------------------------------------------------------------------------------------------

main() {
  [[ $# -le 1 && ${1:---build-only} == --build-only ]] || die "usage: footprint.sh [--build-only]"
  need taskset "apt-get install -y util-linux"
  build_all "${1:+all}"
  [[ ${1:-} == --build-only ]] && return 0
  need h2load "apt-get install -y nghttp2-client"
  pick_servers
  printf 'footprint.sh: %s, %s; host %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uptime)" "$HOST_BIN"
  [[ " $PARTS " == *" cold "* ]] && part_cold
  [[ " $PARTS " == *" idle "* || " $PARTS " == *" streams "* ]] && part_streams
  [[ " $PARTS " == *" growth "* ]] && part_growth
  [[ " $PARTS " == *" workers "* ]] && part_workers
  return 0
}

main "$@"
