#!/usr/bin/env bash
# json.encode / json.decode of the host's json library beside Debian's lua-cjson, both in the stock
# lua5.4 interpreter (Debian packages lua5.4 and lua-cjson, which ships a 5.4 build), on the same
# 1 KiB and 100 KiB documents (bench/json.lua makes them). Builds the library as a module,
# build/bench/json.so (bench/json_module.c), then prints one table.
#
# Environment: BENCH_BUILD_DIR [<repo>/build]: the CMake build to use;
#              BENCH_JSON_SECONDS [2]: CPU seconds for each cell of the table;
#              BENCH_LOAD_CPU [1]: the core to run on (taskset), as the other benchmarks' load.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build}
command -v lua5.4 >/dev/null || { echo "json.sh: no lua5.4 (Debian package lua5.4)" >&2; exit 1; }
cmake -S "$ROOT" -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target json_module -j 2 >/dev/null
taskset -c "${BENCH_LOAD_CPU:-1}" lua5.4 "$ROOT/bench/json.lua" "$BUILD/bench" "${BENCH_JSON_SECONDS:-2}"
