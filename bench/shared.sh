#!/usr/bin/env bash
# Operations per second of the `shared` store (issue 15) from Lua handlers: one worker alone,
# then two workers at once, each running a handler that loops over one operation.
#
#   bench/shared.sh
#
# The host runs bench/shared/greeter.lua with --workers 2 on both cores; a Python client sends
# SayHello{name = "OP:N:KEY"} (N operations OP on KEY in one call). "1 worker": one call at a
# time. "2 workers": two calls at once, on two connections whose calls go to different workers
# (a round where both went to one worker is done again); the rate is 2N over the time from the
# first start to the last end, as the handlers clock them. Each figure is the best of BENCH_ROUNDS rounds.
# "call" is the same loop calling a C function that touches no store: the cost of the loop
# and of a call from Lua into C, which every operation includes.
#
# Environment, besides lib.sh's (defaults in brackets):
#   BENCH_SHARED_N   operations per call [1000000]
#   BENCH_ROUNDS     rounds [5]
#   BENCH_PORT       [50171]
set -euo pipefail
NAME=shared.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PORT=${BENCH_PORT:-50171}
BENCH_SCRIPTS=$BENCH_DIR/shared
HOST_ARGS=(--quiet)
# shellcheck source=lib.sh
. "$BENCH_DIR/lib.sh"

N=${BENCH_SHARED_N:-1000000}
ROUNDS=${BENCH_ROUNDS:-5}
[[ ${BENCH_QUICK:-} == 1 ]] && N=${BENCH_SHARED_N:-20000} ROUNDS=${BENCH_ROUNDS:-1}

main() {
  [[ -x $HOST_BIN ]] || die "no host at $HOST_BIN (build it first)"
  build_py
  [[ -z ${SKIP[python]:-} ]] || die "${SKIP[python]}"
  start_server host 0,1 2
  PYTHONPATH=$PY_DIR "$PYTHON" - "$PORT" "$N" "$ROUNDS" <<'PY'
import sys, threading
import grpc, helloworld_pb2 as pb, helloworld_pb2_grpc as rpc

port, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def run(op, key, stub=None, count=n):
    reply = (stub or stubs[0]).SayHello(pb.HelloRequest(name="%s:%d:%s" % (op, count, key)), timeout=600)
    state, start, end = reply.message.split()
    return int(state), float(start), float(end)


# The host puts each connection's calls on one worker first: find two connections that go to
# different workers.
stubs, seen = [], {}
for _ in range(16):
    stub = rpc.GreeterStub(grpc.insecure_channel("127.0.0.1:" + port, options=[("grpc.use_local_subchannel_pool", 1)]))
    seen.setdefault(run("call", "probe", stub, 1)[0], stub)
    if len(seen) == 2:
        stubs = list(seen.values())
        break
if len(stubs) != 2:
    sys.exit("every connection went to the same worker")


def together(op, keys):
    """Two calls at once; None when both ran on one worker."""
    results, barrier = [None, None], threading.Barrier(2)

    def one(i):
        barrier.wait()
        results[i] = run(op, keys[i], stubs[i])
    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if results[0][0] == results[1][0]:
        return None
    return 2 * n / (max(r[2] for r in results) - min(r[1] for r in results))


cases = [("call", "call: the loop and a Lua-to-C call, no store", ("a", "b")),
         ("get", "get, a 16-byte string", ("g1", "g2")),
         ("set", "set, an integer", ("s1", "s2")),
         ("set_string", "set, a 100-byte string", ("t1", "t2")),
         ("incr", "incr, a key each", ("i1", "i2")),
         ("incr", "incr, one key for both", ("hot", "hot"))]
print("shared store from Lua handlers, operations/s: best of %d rounds, %d per call" % (rounds, n))
print("%-46s %12s %12s %8s" % ("operation", "1 worker", "2 workers", "2 / 1"))
for op, label, keys in cases:
    alone = max(n / (lambda r: r[2] - r[1])(run(op, keys[0])) for _ in range(rounds))
    both = [r for r in (together(op, keys) for _ in range(2 * rounds)) if r is not None][:rounds]
    best = max(both) if both else float("nan")
    print("%-46s %12.0f %12.0f %7.2fx" % (label, alone, best, best / alone))
PY
}

main "$@"
