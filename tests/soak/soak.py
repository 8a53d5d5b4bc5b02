#!/usr/bin/python3
"""Soak: mixed calls of all four kinds against one host for a long time (issue 9).

    /usr/bin/python3 tests/soak/soak.py                   # 10 minutes, starts build/host itself
    /usr/bin/python3 tests/soak/soak.py --duration 3600 --threads 32 --json soak.json
    HOST_BIN=build-asan/host HOST_BUILD_DIR=build-asan /usr/bin/python3 tests/soak/soak.py

Each client thread loops over random calls of faults.Faults (tests/proto/faults.proto):
unary calls that succeed, fail with grpc.error or a Lua error, sleep, or leave garbage whose
__gc raises; server streams of 1..50 messages of up to 20 KB that may fail half-way; client
and bidi streams that may carry a failing item; and on top of that random cancels, short
deadlines and channels closed with calls in flight. Local only: the host listens on
127.0.0.1 and the load is bounded by the thread count.

Checked and reported: every call ends with a status (none hangs past its deadline, none ends
with anything but a gRPC status), calls and statuses by kind, the host's RSS and open
descriptors (/proc/PID/status VmRSS, /proc/PID/fd) at start, after warm-up and at the end.
Exit status 1 if a call went without a status or the host died or left a sanitizer report.
"""

import argparse
import json
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # tests/: harness
sys.path.insert(0, HERE)

import grpc  # noqa: E402

from faultstubs import faults_pb2 as fpb, faults_pb2_grpc as fgrpc  # noqa: E402

CALL_DEADLINE = 30.0        # seconds: a call still running then counts as hung
SHORT_DEADLINE = 0.05       # seconds: the deadlines meant to expire

UNARY_MODES = ["ok"] * 10 + ["error", "lua_error", "sleep", "gc_later", "gc_error", "co_error",
                             "co_wrap_error", "error_table", "pcall_sleep"]


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def sanitized(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.codes = {}          # (kind, code name) -> count
        self.no_status = []      # descriptions of calls that ended without a status
        self.hung = 0            # calls that ran into CALL_DEADLINE

    def add(self, kind, code, meant_short=False):
        with self.lock:
            self.calls += 1
            name = code.name if code is not None else "NONE"
            self.codes[(kind, name)] = self.codes.get((kind, name), 0) + 1
            if code is None:
                self.no_status.append(kind)
            elif code == grpc.StatusCode.DEADLINE_EXCEEDED and not meant_short:
                self.hung += 1

    def by_code(self):
        out = {}
        for (_, name), n in self.codes.items():
            out[name] = out.get(name, 0) + n
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def by_kind(self):
        out = {}
        for (kind, name), n in sorted(self.codes.items()):
            out.setdefault(kind, {})[name] = n
        return out


def status_of(call_or_error):
    try:
        return call_or_error.code()
    except Exception:  # noqa: BLE001
        return None


class Client(threading.Thread):
    """One client thread: its own channel (replaced now and then), random calls."""

    def __init__(self, target, stats, stop, seed):
        super().__init__(daemon=True)
        self.target = target
        self.stats = stats
        self.stop = stop
        self.rnd = random.Random(seed)
        self.channel = None
        self.error = None

    def new_channel(self):
        if self.channel is not None:
            self.channel.close()
        self.channel = grpc.insecure_channel(self.target, options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = fgrpc.FaultsStub(self.channel)

    def deadline(self):
        short = self.rnd.random() < 0.05
        return (SHORT_DEADLINE if short else CALL_DEADLINE), short

    def items(self, n, cancel_at=None, on_cancel=None):
        fail_at = self.rnd.randrange(n) if n and self.rnd.random() < 0.1 else -1
        tag = self.rnd.choice(["fail", "lua"])
        for i in range(n):
            if cancel_at is not None and i == cancel_at and on_cancel:
                on_cancel()
            yield fpb.Chunk(seq=i, tag=tag if i == fail_at else "",
                            payload=b"c" * self.rnd.randrange(0, 2000))

    def settle(self, kind, fut, short):
        """Waits for a call's future and counts the status it ended with."""
        try:
            fut.result()
        except grpc.RpcError:
            pass
        except grpc.FutureCancelledError:
            self.stats.add(kind, grpc.StatusCode.CANCELLED, short)
            return
        self.stats.add(kind, status_of(fut), short)

    def unary(self):
        mode = self.rnd.choice(UNARY_MODES)
        timeout, short = self.deadline()
        fut = self.stub.Unary.future(fpb.Mode(mode=mode, seconds=self.rnd.random() * 0.05), timeout=timeout)
        if self.rnd.random() < 0.05:
            fut.cancel()
        self.settle("unary", fut, short)

    def server_stream(self):
        timeout, short = self.deadline()
        req = fpb.StreamRequest(count=self.rnd.randrange(1, 50), size=self.rnd.randrange(0, 20000),
                                fail=self.rnd.choice(["", "", "", "grpc", "lua"]), tag="soak",
                                sleep=self.rnd.choice([0, 0, 0.001]))
        call = self.stub.Stream(req, timeout=timeout)
        cancel_after = self.rnd.randrange(req.count) if self.rnd.random() < 0.15 else None
        try:
            for i, _ in enumerate(call):
                if i == cancel_after:
                    call.cancel()
        except grpc.RpcError:
            pass
        self.stats.add("server_stream", status_of(call), short)

    def client_stream(self):
        timeout, short = self.deadline()
        holder = {}
        n = self.rnd.randrange(0, 60)
        cancel_at = self.rnd.randrange(n) if n and self.rnd.random() < 0.1 else None
        fut = self.stub.Collect.future(self.items(n, cancel_at, lambda: holder["f"].cancel()),
                                       timeout=timeout)
        holder["f"] = fut
        self.settle("client_stream", fut, short)

    def bidi(self):
        timeout, short = self.deadline()
        n = self.rnd.randrange(0, 60)
        call = self.stub.Chat(self.items(n), timeout=timeout)
        cancel_after = self.rnd.randrange(n) if n and self.rnd.random() < 0.15 else None
        try:
            for i, _ in enumerate(call):
                if i == cancel_after:
                    call.cancel()
        except grpc.RpcError:
            pass
        self.stats.add("bidi", status_of(call), short)

    def run(self):
        kinds = [self.unary, self.unary, self.server_stream, self.client_stream, self.bidi]
        try:
            self.new_channel()
            n = 0
            while not self.stop.is_set():
                n += 1
                if n % 300 == 0:
                    self.new_channel()
                if self.rnd.random() < 0.01:
                    self.abandon()
                    continue
                self.rnd.choice(kinds)()
        except Exception as e:  # noqa: BLE001
            self.error = repr(e)
            raise
        finally:
            if self.channel is not None:
                self.channel.close()

    def abandon(self):
        """Streams left open and the channel closed under them: each must end CANCELLED."""
        calls = [self.stub.Stream(fpb.StreamRequest(count=0, size=100, sleep=0.01, tag="soak"),
                                  timeout=CALL_DEADLINE) for _ in range(3)]
        for c in calls:
            try:
                next(c)
            except (grpc.RpcError, StopIteration):
                pass
        self.new_channel()
        for c in calls:
            try:
                for _ in c:
                    pass
            except grpc.RpcError:
                pass
            self.stats.add("abandoned", status_of(c))


def soak(target, pid, duration, threads=8, seed=1, warmup=None, report=None, out=sys.stdout):
    """Runs the load for duration seconds against target (host pid); returns the figures."""
    warmup = min(duration * 0.25, 30.0) if warmup is None else warmup
    report = report or max(10.0, duration / 10)
    stats = Stats()
    stop = threading.Event()
    start = {"rss_mb": rss_mb(pid), "fds": fd_count(pid)}
    clients = [Client(target, stats, stop, seed * 1000 + i) for i in range(threads)]
    t0 = time.monotonic()
    for c in clients:
        c.start()
    samples = []
    after_warmup = None
    next_report = report
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= duration:
            break
        time.sleep(min(1.0, duration - elapsed))
        elapsed = time.monotonic() - t0
        if not os.path.exists("/proc/%d" % pid):
            break
        sample = {"t": round(elapsed, 1), "calls": stats.calls, "rss_mb": round(rss_mb(pid), 1),
                  "fds": fd_count(pid)}
        samples.append(sample)
        if after_warmup is None and elapsed >= warmup:
            after_warmup = sample
        if elapsed >= next_report:
            next_report += report
            out.write("soak t=%5.0fs calls=%d rss=%.1f MB fds=%d\n"
                      % (elapsed, stats.calls, sample["rss_mb"], sample["fds"]))
            out.flush()
    stop.set()
    for c in clients:
        c.join(CALL_DEADLINE * 2)
    stuck = [c.name for c in clients if c.is_alive()]
    errors = [c.error for c in clients if c.error]
    time.sleep(1.0)   # handlers of the last cancelled calls wind down
    alive = os.path.exists("/proc/%d" % pid)
    end = {"rss_mb": round(rss_mb(pid), 1), "fds": fd_count(pid)} if alive else None
    result = {
        "duration_s": round(time.monotonic() - t0, 1), "threads": threads,
        "calls": stats.calls, "by_code": stats.by_code(), "by_kind": stats.by_kind(),
        "without_status": len(stats.no_status), "hung": stats.hung,
        "stuck_threads": stuck, "client_errors": errors, "host_alive": alive,
        "start": start, "after_warmup": after_warmup or (samples[-1] if samples else start),
        "end": end, "peak_rss_mb": max([s["rss_mb"] for s in samples] or [start["rss_mb"]]),
        "sanitized": alive and sanitized(pid),
    }
    return result


def summary(r):
    lines = ["soak: %d calls in %.0f s with %d threads" % (r["calls"], r["duration_s"], r["threads"]),
             "  statuses: " + ", ".join("%s %d" % kv for kv in r["by_code"].items())]
    for kind, codes in r["by_kind"].items():
        lines.append("  %-14s %s" % (kind, ", ".join("%s %d" % kv for kv in codes.items())))
    w, e = r["after_warmup"], r["end"] or {}
    lines.append("  host RSS MB: start %.1f, after warm-up %.1f, end %s, peak %.1f%s" % (
        r["start"]["rss_mb"], w["rss_mb"], e.get("rss_mb"), r["peak_rss_mb"],
        " (ASan build: RSS includes its quarantine)" if r["sanitized"] else ""))
    lines.append("  host fds: start %d, after warm-up %d, end %s" % (r["start"]["fds"], w["fds"], e.get("fds")))
    lines.append("  calls without a status: %d, hung (past %.0f s): %d, stuck client threads: %d, "
                 "host alive: %s" % (r["without_status"], CALL_DEADLINE, r["hung"],
                                     len(r["stuck_threads"]), r["host_alive"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    ap.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    ap.add_argument("--workers", type=int, default=2, help="host workers (default 2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    from harness import Host
    host = Host(workers=args.workers, args=["--quiet"])
    with host:
        r = soak(host.target, host.proc.pid, args.duration, threads=args.threads, seed=args.seed)
        code = host.stop()
        r["host_exit"] = code
        host.expect_exit = None
    text = summary(r)
    print(text)
    print("  host exit: %s" % code)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    bad = r["without_status"] or r["hung"] or r["stuck_threads"] or not r["host_alive"] or code != 0
    try:
        host.check_output_clean()
    except AssertionError as e:
        print(e)
        bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
