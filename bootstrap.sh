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
#   ./bootstrap.sh ci-host   install what .ci/run needs around its fresh Debian root (debootstrap)
set -euo pipefail
cd "$(dirname "$0")"

# Everything the build, the tests, `package` and `image` run, all from Debian: a fresh Debian 12
# (minbase) gets all of it from here. One package a line.
PACKAGES=(
  # the build: compilers, cmake, the libraries the host links, protoc and protoc-c
  build-essential
  cmake
  pkg-config
  libgrpc-dev
  liblua5.4-dev
  libprotobuf-c-dev
  libssl-dev
  libc-ares-dev
  libhttp-parser-dev
  protobuf-c-compiler
  protobuf-compiler
  grpc-proto
  # gzip bodies over HTTP/1.1 (host/gzip.c)
  zlib1g-dev
  # the fuzz targets (tests/fuzz): clang, libFuzzer and clang's sanitizer runtimes
  clang
  libclang-rt-dev
  # the tests' python clients: grpcio, protobuf, stubs by grpc_python_plugin, raw HTTP/2, s.yaml
  python3
  python3-grpcio
  python3-protobuf
  protobuf-compiler-grpc
  python3-h2
  python3-hpack
  python3-yaml
  # the stock grpc-go example programs (tests/golib.sh), also bench/'s Go peer and load client
  golang-go
  golang-google-grpc-dev
  golang-github-golang-protobuf-1-5-dev
  protoc-gen-go
  protoc-gen-go-grpc
  # the HTTP/1.1 tests' clients: curl, and node and npm for buf curl and connect-node (npm installs
  # them over https, as it does bench's grpc-js peer)
  curl
  nodejs
  npm
  ca-certificates
  # tools the tests and benchmarks run: nghttp and h2load, ip, TLS certificates, and gdb, which
  # shows where a host that does not stop is stuck (tests/harness.py)
  nghttp2-client
  iproute2
  openssl
  gdb
  # `package` and `image`, and their tests: zip, unzip, a static busybox as the empty root's
  # /bin/sh, umoci for the OCI image
  zip
  unzip
  busybox-static
  umoci
)

# What `./bootstrap.sh bench` needs besides. One package a line.
BENCH_PACKAGES=(
  # the C++ peer's grpc++
  libgrpc++-dev
  libprotobuf-dev
  # callgrind and perf for bench/cost.sh
  valgrind
  linux-perf
  # the stock Lua interpreter and lua-cjson, beside which bench/json.sh times the json library
  lua5.4
  lua-cjson
  # git names the commit measured
  git
)

# What .ci/run needs on the machine around the fresh Debian root it tests in.
CI_HOST_PACKAGES=(
  debootstrap
  debian-archive-keyring
)

# install_packages PKG...: apt-get installs those that no installed package is or provides. Node and
# npm from elsewhere (NodeSource) count: Debian's npm would conflict with theirs.
install_packages() {
  local have missing=() p
  have=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}, ${Provides}\n' 2>/dev/null |
    awk '/^ii / { sub(/^ii +/, ""); gsub(/ \([^)]*\)/, ""); gsub(/, */, "\n"); print }')
  for p in "$@"; do
    [[ $p == nodejs || $p == npm ]] && command -v node >/dev/null && command -v npm >/dev/null && continue
    grep -qxF -- "$p" <<<"$have" || missing+=("$p")
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
    install_packages "${PACKAGES[@]}"
    build build
    shift
    [ "${1:-}" = "--" ] && shift
    exec build/host "$@"
    ;;
  build)
    install_packages "${PACKAGES[@]}"
    build build
    ;;
  test)
    install_packages "${PACKAGES[@]}"
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
    install_packages "${PACKAGES[@]}"
    package
    ;;
  image)
    install_packages "${PACKAGES[@]}"
    image
    ;;
  bench)
    install_packages "${PACKAGES[@]}" "${BENCH_PACKAGES[@]}"
    build build
    exec bench/run.sh
    ;;
  ci-host)
    install_packages "${CI_HOST_PACKAGES[@]}"
    ;;
  *)
    echo "usage: $0 run [--] [host options] | test | build | package | image | bench | ci-host" >&2
    exit 2
    ;;
esac
