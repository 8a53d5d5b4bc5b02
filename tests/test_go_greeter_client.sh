#!/usr/bin/env bash
# The stock grpc-go helloworld greeter_client, as Debian's golang-google-grpc-dev ships it,
# against the host serving the example (proto/helloworld.proto + scripts/greeter.lua).
#
# Debian's example (grpc-go 1.33) has no flags: it dials the constant "localhost:50051" and takes
# the name as its first argument. So:
#   1. where a private network namespace works (unshare -rn), the host serves 127.0.0.1:50051 in
#      it and the unchanged client runs there too;
#   2. otherwise the client's address constant is made overridable by $GREETER_ADDRESS (a
#      three-line edit of a copy, nothing else changed) and the host uses an ephemeral port
#      (GREETER_NO_NETNS=1 forces this).
# The client is built once per build dir and cached in $HOST_BUILD_DIR/go-greeter-client
# (tests/golib.sh).
set -euo pipefail

HOST_SOURCE_DIR=${HOST_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
HOST_BUILD_DIR=${HOST_BUILD_DIR:-$HOST_SOURCE_DIR/build}
HOST_BIN=${HOST_BIN:-$HOST_BUILD_DIR/host}
CACHE=$HOST_BUILD_DIR/go-greeter-client
STOCK_PORT=50051
. "$HOST_SOURCE_DIR/tests/golib.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }

# --- inside the private network namespace: serve on 50051, run the unchanged client ---------
if [ "${1:-}" = "--in-netns" ]; then
  ip link set lo up
  exec bash "$0" --serve-and-greet "$STOCK_PORT" stock
fi

# --- serve-and-greet PORT MODE: start the host, run the client, stop the host --------------
serve_and_greet() {
  local port=$1 mode=$2 log hostport out rc
  WORK=$(mktemp -d)
  log=$WORK/host.log
  HOST_PID=
  trap 'if [ -n "$HOST_PID" ]; then kill -KILL "$HOST_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT

  "$HOST_BIN" --address 127.0.0.1 --port "$port" --scripts "$HOST_SOURCE_DIR/scripts" \
    --protoset "$HOST_BUILD_DIR/protoset.pb" --workers 2 --no-watch >"$log" 2>&1 &
  HOST_PID=$!
  # Poll the log for the ready line (bounded); give up early if the host exits.
  if ! timeout 30 bash -c "until grep -q 'msg=ready' '$log'; do kill -0 $HOST_PID 2>/dev/null || exit 1; sleep 0.05; done"; then
    cat "$log" >&2
    fail "the host did not get ready"
  fi
  hostport=$(grep -m1 'msg=ready' "$log" | grep -o '\bport=[0-9]*' | head -n1 | cut -d= -f2)
  [ -n "$hostport" ] || { cat "$log" >&2; fail "no port=N in the ready line"; }

  set +e
  case $mode in
    stock)   out=$(timeout 30 "$CACHE/greeter_client" world 2>&1) ;;
    patched) out=$(GREETER_ADDRESS="127.0.0.1:$hostport" timeout 30 "$CACHE/greeter_client_addr" world 2>&1) ;;
  esac
  rc=$?
  set -e
  echo "greeter_client ($mode, port $hostport): $out"

  kill -TERM "$HOST_PID"
  local code=0
  wait "$HOST_PID" || code=$?
  HOST_PID=
  if [ "$rc" -ne 0 ] || ! grep -q "Greeting: Hello world" <<<"$out"; then
    cat "$log" >&2
    fail "greeter_client exited $rc without the greeting 'Hello world'"
  fi
  if [ "$code" -ne 0 ]; then
    cat "$log" >&2
    fail "the host exited $code after SIGTERM"
  fi
  if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$log"; then
    cat "$log" >&2
    fail "sanitizer report in the host output"
  fi
  echo "PASS: greeter_client got 'Hello world'; host exited 0"
}

if [ "${1:-}" = "--serve-and-greet" ]; then
  serve_and_greet "$2" "$3"
  exit 0
fi

# --- build the client (cached) ---------------------------------------------------------------
[ -x "$HOST_BIN" ] || fail "no host binary at $HOST_BIN"
[ -f "$HOST_BUILD_DIR/protoset.pb" ] || fail "no $HOST_BUILD_DIR/protoset.pb"
[ -f "$EXAMPLE/greeter_client/main.go" ] || fail "no grpc-go example at $EXAMPLE (golang-google-grpc-dev)"
command -v go >/dev/null || fail "no go (golang-go)"

mkdir -p "$CACHE"
main_go=$EXAMPLE/greeter_client/main.go
[ -x "$CACHE/greeter_client" ] || go_build greeter_client greeter_client "$main_go"

if [ -z "${GREETER_NO_NETNS:-}" ] && command -v unshare >/dev/null && command -v ip >/dev/null &&
   unshare -rn ip link set lo up 2>/dev/null; then
  echo "running the unchanged greeter_client in a private network namespace (localhost:$STOCK_PORT)"
  exec unshare -rn bash "$0" --in-netns
fi

echo "no private network namespace here: using a copy of greeter_client whose address comes from \$GREETER_ADDRESS"
build_greeter_client_addr || fail "could not make the example's address overridable: $main_go changed?"
exec bash "$0" --serve-and-greet 0 patched
