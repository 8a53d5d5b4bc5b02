#!/usr/bin/env bash
# Reload time: the example alone, and 100 services with a script each.
# Prints the duration_ms the host logs for each reload (median of 5 SIGHUPs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
HOST_BIN=${HOST_BIN:-$top/build/host}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

measure() { # label protoset scripts
  "$HOST_BIN" --port 0 --address 127.0.0.1 --workers 2 --quiet --no-watch \
    --protoset "$2" --scripts "$3" >"$work/log" 2>&1 &
  pid=$!
  timeout 30 bash -c "until grep -q msg=ready '$work/log'; do sleep 0.05; done"
  for i in 1 2 3 4 5; do
    kill -HUP "$pid"
    timeout 30 bash -c "until [ \$(grep -c msg=reloaded '$work/log') -ge $i ]; do sleep 0.02; done"
  done
  kill -TERM "$pid"; wait "$pid" || true
  printf '%-28s %s ms (median of 5 reloads, 2 workers)\n' "$1" \
    "$(grep -o 'duration_ms=[0-9.]*' "$work/log" | cut -d= -f2 | sort -n | sed -n 3p)"
}

measure "example (1 script)" "$top/build/protoset.pb" "$top/scripts"

mkdir -p "$work/proto" "$work/scripts"
for i in $(seq 1 100); do
  cat >"$work/proto/svc$i.proto" <<PROTO
syntax = "proto3";
package bench$i;
message Req { string name = 1; int64 id = 2; repeated string tags = 3; }
message Rep { string message = 1; map<string, int64> counts = 2; }
service Svc$i { rpc Get(Req) returns (Rep); rpc List(Req) returns (stream Rep); }
PROTO
  cat >"$work/scripts/svc$i.lua" <<LUA
local M = {}
function M.Get(req) return { message = "svc$i " .. req.name } end
function M.List(req, call) for _, t in ipairs(req.tags) do call:send({ message = t }) end end
return M
LUA
done
protoc -I"$work/proto" --descriptor_set_out="$work/many.pb" "$work"/proto/*.proto
measure "100 services, 100 scripts" "$work/many.pb" "$work/scripts"
