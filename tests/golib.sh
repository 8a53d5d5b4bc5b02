# Sourced by the tests that run grpc-go's helloworld example as Debian's golang-google-grpc-dev
# ships it: go_build builds one of its programs into $CACHE (the caller sets CACHE and
# HOST_SOURCE_DIR); build_greeter_client_addr, a greeter_client that dials $GREETER_ADDRESS.

EXAMPLE=${GRPC_GO_EXAMPLE:-/usr/share/doc/golang-google-grpc-dev/examples/helloworld}
GOCODE=/usr/share/gocode

# A GOPATH whose google.golang.org/grpc is the system grpc-go (symlinked entry by entry) plus
# the example, so the example's own import path resolves. One for each build: tests that ctest
# runs at once may both build into an empty $CACHE.
go_build() {  # go_build OUT_NAME EXAMPLE_DIR MAIN_GO: EXAMPLE_DIR (greeter_client, ...) with MAIN_GO
  local gp grpcdir ex
  gp=$(mktemp -d "$CACHE/gopath.XXXXXX")
  grpcdir=$gp/src/google.golang.org/grpc
  ex=$grpcdir/examples/helloworld
  mkdir -p "$grpcdir/examples"
  for f in "$GOCODE"/src/google.golang.org/grpc/*; do
    [ "$(basename "$f")" = examples ] || ln -s "$f" "$grpcdir/"
  done
  cp -r "$EXAMPLE" "$ex"
  chmod -R u+w "$ex"
  cp "$3" "$ex/$2/main.go"
  local goenv=(env GO111MODULE=off GOPATH="$gp:$GOCODE" GOCACHE="$CACHE/gocache" HOME="$CACHE/home"
               GOFLAGS= CGO_ENABLED=0 GOPROXY=off)
  mkdir -p "$CACHE/home"
  if ! (cd "$ex/$2" && "${goenv[@]}" go build -o "$gp/$1" .); then
    # The shipped stubs do not build against this grpc-go: regenerate them from our proto.
    echo "regenerating the helloworld stubs from proto/helloworld.proto"
    rm -f "$ex"/helloworld/*.pb.go
    protoc -I"$HOST_SOURCE_DIR/proto" --go_out="$ex/helloworld" --go_opt=paths=source_relative \
      --go-grpc_out="$ex/helloworld" --go-grpc_opt=paths=source_relative \
      "$HOST_SOURCE_DIR/proto/helloworld.proto"
    (cd "$ex/$2" && "${goenv[@]}" go build -o "$gp/$1" .)
  fi
  mv "$gp/$1" "$CACHE/$1"
  rm -rf "$gp"
}


# $CACHE/greeter_client_addr: the example's client with its address constant made overridable
# by $GREETER_ADDRESS (a three-line edit of a copy, nothing else changed); built once.
build_greeter_client_addr() {
  [ -x "$CACHE/greeter_client_addr" ] && return 0
  local patched
  patched=$(mktemp "$CACHE/main_addr.XXXXXX")
  sed -e 's/^\taddress\( *\)= "localhost:50051"/\tdefaultAddress = "localhost:50051"/' \
      -e '/^func main() {/i var address = func() string {\n\tif a := os.Getenv("GREETER_ADDRESS"); a != "" {\n\t\treturn a\n\t}\n\treturn defaultAddress\n}()\n' \
      "$EXAMPLE/greeter_client/main.go" >"$patched"
  grep -q 'defaultAddress = "localhost:50051"' "$patched" && grep -q GREETER_ADDRESS "$patched" || return 1
  go_build greeter_client_addr greeter_client "$patched"
  rm -f "$patched"
}
