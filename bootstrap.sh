#!/usr/bin/env bash
# One entry point for users and CI, on Debian 12:
#   ./bootstrap.sh run [--] [host options]
#                            install what is missing, build, serve scripts/ on 8089 (or as the
#                            options say: ./bootstrap.sh run --port 20094)
#   ./bootstrap.sh test      install what is missing, build, run every test (also under ASan+UBSan),
#                            then fuzz the codec and the descriptor loader briefly
#   ./bootstrap.sh build     install what is missing and build (again after adding a .proto to proto/)
#   ./bootstrap.sh package   install what is missing, build the host fully static (build-static/)
#                            and write dist/code.zip for Function Compute: bootstrap, protoset.pb, scripts/
#   ./bootstrap.sh image     the package, then dist/image.tar: an OCI image FROM scratch holding the
#                            same files, entrypoint /bootstrap, port 8089 (deploy/ runs it)
#   ./bootstrap.sh bench     install what is missing (the benchmarks' packages too), build, run
#                            bench/run.sh (bench/README.md; its knobs are environment variables)
set -euo pipefail
cd "$(dirname "$0")"

# What the build and the tests need, all from Debian.
PACKAGES=(
  build-essential cmake pkg-config clang
  libgrpc-dev liblua5.4-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  protobuf-compiler-grpc grpc-proto python3-grpcio python3-protobuf
  golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev
  protoc-gen-go protoc-gen-go-grpc
  nghttp2-client iproute2
  zip unzip busybox-static python3-yaml
  python3-h2
  umoci
  libssl-dev libc-ares-dev libhttp-parser-dev openssl
  lua5.4 lua-cjson
)

# What bench/ needs besides: the C++ peer's grpc++, callgrind and perf for bench/cost.sh.
BENCH_PACKAGES=(libgrpc++-dev libprotobuf-dev valgrind linux-perf)

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

# The Function Compute package: dist/code.zip holding bootstrap (the host, static: it needs no
# library, no loader, not even a C library on the machine), protoset.pb and scripts/.
package() {
  cmake -S . -B build-static -DSTATIC=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-static -j "$(nproc)" --target host protoset
  local stage=dist/code
  rm -rf "$stage" dist/code.zip.tmp
  mkdir -p "$stage/scripts"
  strip -o "$stage/bootstrap" build-static/host
  chmod 755 "$stage/bootstrap"
  cp build-static/protoset.pb "$stage/protoset.pb"
  cp -R scripts/. "$stage/scripts/"
  # What the package will serve, as the platform will start it: a broken script fails here,
  # named as in the source tree (scripts/broken.lua:2), not by its staging copy's path.
  local served
  if ! served=$(cd "$stage" && env -u HOST_SCRIPTS -u HOST_PROTOSET \
                ./bootstrap --check --scripts scripts --protoset protoset.pb 2>&1); then
    echo "$served" >&2
    rm -f dist/code.zip
    echo "package: the host refuses these scripts or protosets (above); no dist/code.zip" >&2
    exit 1
  fi
  echo "$served"
  (cd "$stage" && zip -q -r -X ../code.zip.tmp bootstrap protoset.pb scripts)
  mv dist/code.zip.tmp dist/code.zip
  echo "package: dist/code.zip ($(du -k dist/code.zip | cut -f1) KiB): unzip it anywhere and run ./bootstrap"
}

# The OCI image: dist/image.tar, an image layout (oci-archive) made by umoci with no daemon, one
# layer holding the package's files and an empty /tmp, run as nobody.
image() {
  package
  local layout=dist/image bundle=dist/image-bundle rootless=()
  [ "$(id -u)" -ne 0 ] && rootless=(--rootless)
  rm -rf "$layout" "$bundle" dist/image.tar.tmp
  umoci init --layout "$layout"
  umoci new --image "$layout:latest"
  umoci unpack "${rootless[@]}" --image "$layout:latest" "$bundle"
  cp -R dist/code/. "$bundle/rootfs/"
  mkdir -m 1777 "$bundle/rootfs/tmp"
  umoci repack --image "$layout:latest" "$bundle"
  umoci config --image "$layout:latest" --config.entrypoint /bootstrap --config.workingdir / \
    --config.exposedports 8089/tcp --config.user 65534:65534
  umoci gc --layout "$layout"
  (cd "$layout" && tar -cf ../image.tar.tmp oci-layout index.json blobs)
  mv dist/image.tar.tmp dist/image.tar
  rm -rf "$layout" "$bundle"
  echo "image: dist/image.tar ($(du -k dist/image.tar | cut -f1) KiB; dist/code.zip $(du -k dist/code.zip | cut -f1) KiB): an OCI archive; push it with skopeo copy oci-archive:dist/image.tar docker://REGISTRY/NAME:TAG"
}

case "${1:-}" in
  run)
    install_packages
    build build
    shift
    [ "${1:-}" = "--" ] && shift
    exec build/host "$@"
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
    # The codec and the descriptor loader under libFuzzer, 15 s a target (tests/fuzz/README.md).
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -DSANITIZE=ON >/dev/null
    cmake --build build-fuzz --target fuzz -j "$(nproc)"
    tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-15}"
    ;;
  package)
    install_packages
    package
    ;;
  image)
    install_packages
    image
    ;;
  bench)
    PACKAGES+=("${BENCH_PACKAGES[@]}")
    install_packages
    build build
    exec bench/run.sh
    ;;
  *)
    echo "usage: $0 run [--] [host options] | test | build | package | image | bench" >&2
    exit 2
    ;;
esac
