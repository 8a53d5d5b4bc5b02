#!/usr/bin/env bash
# grpc-go on both sides of the host: the stock greeter_client calls the host, whose greeter.lua
# passes SayHello on with grpc.client to the stock greeter_server (Debian's
# golang-google-grpc-dev example, which listens on :50051). All three run in a private network
# namespace, where port 50051 is free; the client is the copy that dials $GREETER_ADDRESS.
set -euo pipefail

HOST_SOURCE_DIR=${HOST_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
HOST_BUILD_DIR=${HOST_BUILD_DIR:-$HOST_SOURCE_DIR/build}
HOST_BIN=${HOST_BIN:-$HOST_BUILD_DIR/host}
CACHE=$HOST_BUILD_DIR/go-greeter-client
. "$HOST_SOURCE_DIR/tests/golib.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }

# Polls (bounded) until file holds text; gives up early if process pid is gone.
wait_for() {  # wait_for FILE TEXT PID
  timeout 30 bash -c "until grep -q '$2' '$1'; do kill -0 $3 2>/dev/null || exit 1; sleep 0.05; done"
}

in_netns() {
  ip link set lo up
  WORK=$(mktemp -d)
  PIDS=()     # global: the EXIT trap runs after this function's locals are gone
  trap 'kill -KILL "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
  mkdir "$WORK/scripts"
  cat >"$WORK/scripts/greeter.lua" <<'LUA'
local backend = grpc.client("127.0.0.1:50051", { timeout = 10 })
return {
  SayHello = function(req) return (backend:call("helloworld.Greeter/SayHello", req)) end,
}
LUA
  "$CACHE/greeter_server" >"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  "$HOST_BIN" --address 127.0.0.1 --port 0 --scripts "$WORK/scripts" --protoset "$HOST_BUILD_DIR/protoset.pb" \
    --workers 1 --no-watch >"$WORK/host.log" 2>&1 &
  local host=$!
  PIDS+=($host)
  wait_for "$WORK/host.log" 'msg=ready' "$host" || { cat "$WORK/host.log" >&2; fail "the host did not get ready"; }
  local port out
  port=$(grep -m1 'msg=ready' "$WORK/host.log" | grep -o '\bport=[0-9]*' | cut -d= -f2)
  out=$(GREETER_ADDRESS="127.0.0.1:$port" timeout 30 "$CACHE/greeter_client_addr" world 2>&1) ||
    { cat "$WORK/host.log" "$WORK/server.log" >&2; fail "greeter_client failed: $out"; }
  echo "greeter_client: $out"
  grep -q "Greeting: Hello world" <<<"$out" || fail "no 'Hello world' from the greeter_server"
  grep -q "Received: world" "$WORK/server.log" || fail "the greeter_server never saw the call"
  kill -TERM "$host"
  wait "$host" || { cat "$WORK/host.log" >&2; fail "the host did not exit 0 on SIGTERM"; }
  if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK/host.log"; then
    cat "$WORK/host.log" >&2
    fail "sanitizer report in the host output"
  fi
  echo "PASS: greeter_client -> host (grpc.client) -> greeter_server"
}

if [ "${1:-}" = "--in-netns" ]; then
  in_netns
  exit 0
fi

[ -x "$HOST_BIN" ] || fail "no host binary at $HOST_BIN"
command -v go >/dev/null || fail "no go (golang-go)"
mkdir -p "$CACHE"
[ -x "$CACHE/greeter_server" ] || go_build greeter_server greeter_server "$EXAMPLE/greeter_server/main.go"
build_greeter_client_addr || fail "could not make the example client's address overridable"
unshare -rn ip link set lo up 2>/dev/null || fail "no private network namespace (unshare -rn) for port 50051"
exec unshare -rn bash "$0" --in-netns
