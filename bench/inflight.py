"""The memory client of bench/http.sh and bench/proxy.sh: SayHello calls held in flight by a
backend, and the server's RSS (VmRSS, kB) around them.

    inflight.py PORT PID N STATUS_URL EXPECT NAME...

Reads the RSS of PID (base), makes N SayHello calls at once on 127.0.0.1:PORT, call i named
NAME[i % len(NAME)], each held by the backend; reads the RSS once STATUS_URL (the backend's count
of the requests it holds) says all N are there (inflight), and once all are answered (idle).
Every reply must be EXPECT. Prints "base=B inflight=F idle=I"; exits non-zero with the reason
otherwise. Needs the helloworld stubs on PYTHONPATH.
"""

import sys
import time
import urllib.request

import grpc

import helloworld_pb2 as pb
import helloworld_pb2_grpc as rpc


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def held(url):
    return int(urllib.request.urlopen(url, timeout=5).read())


def reply(call):
    try:
        return call.result().message
    except grpc.RpcError as e:
        return "%s: %s" % (e.code().name, e.details())


def main(port, pid, n, url, expect, *names):
    pid, n = int(pid), int(n)
    with grpc.insecure_channel("127.0.0.1:" + port) as ch:
        stub = rpc.GreeterStub(ch)
        base = rss(pid)
        calls = [stub.SayHello.future(pb.HelloRequest(name=names[i % len(names)]), timeout=120)
                 for i in range(n)]
        deadline = time.monotonic() + 60
        while held(url) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        if held(url) < n:
            sys.exit("only %d of %d requests reached the backend" % (held(url), n))
        inflight = rss(pid)
        bad = [m for m in map(reply, calls) if m != expect]
        if bad:
            sys.exit("%d calls got %r, not %r" % (len(bad), bad[0], expect))
        print("base=%d inflight=%d idle=%d" % (base, inflight, rss(pid)))


if __name__ == "__main__":
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    main(*sys.argv[1:])
