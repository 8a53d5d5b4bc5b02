#!/usr/bin/env bash
# One entry point for users and CI, on Debian 12:
#   ./bootstrap.sh run       install what is missing, build, serve the example on 8089
#   ./bootstrap.sh test      install what is missing, build, run every test (also under ASan+UBSan)
#   ./bootstrap.sh build     install what is missing and build, nothing else
set -euo pipefail
cd "$(dirname "$0")"

# What the build and the tests need, all from Debian.
PACKAGES=(
  build-essential cmake pkg-config clang
  libgrpc-dev liblua5.4-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  protobuf-compiler-grpc python3-grpcio python3-protobuf
  golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev
  protoc-gen-go protoc-gen-go-grpc
  nghttp2-client iproute2
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "bootstrap: installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# build DIR [cmake args...]
build() {
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}

case "${1:-}" in
  run)
    install_packages
    build build
    exec build/host
    ;;
  build)
    install_packages
    build build
    ;;
  test)
    install_packages
    build build
    (cd build && ctest --output-on-failure -j 2)
    build build-asan -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    (cd build-asan && ctest --output-on-failure -j 2)
    ;;
  *)
    echo "usage: $0 run|test|build" >&2
    exit 2
    ;;
esac
