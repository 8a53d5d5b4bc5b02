"""Faults (issue 9): clients that vanish, stop reading or open thousands of streams; handlers
that fail half-way through a stream, raise in __gc or in coroutines of their own, or yield
from the wrong coroutine; SIGTERM with 1,000 streams open. Every call must end with a status,
nothing may hang, and the host must keep serving and exit 0 without a sanitizer report.
The handlers are tests/scripts/faults.lua (tests/proto/faults.proto)."""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import uuid

import grpc

from harness import SANITIZED, Host, HostTestCase, pb, rpc, rss_kb, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak"))
from faultstubs import faults_pb2 as fpb, faults_pb2_grpc as fgrpc  # noqa: E402

OK, CANCELLED, UNAVAILABLE = grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def drain(stream, limit=None):
    """Reads a response stream to its end: (messages, code, details)."""
    got = []
    try:
        for m in stream:
            got.append(m)
            if limit and len(got) >= limit:
                break
        return got, stream.code(), stream.details()
    except grpc.RpcError as e:
        return got, e.code(), e.details()


class FaultsTest(HostTestCase):
    # One worker: the counters of faults.lua live in its Lua state.
    host_options = {"workers": 1}

    def stub(self, own_connection=False):
        """A Faults stub: on a connection of its own, or on the one the test class shares."""
        if own_connection:
            return fgrpc.FaultsStub(self.host.channel(own_connection=True))
        if getattr(type(self), "_shared", None) is None:
            type(self)._shared = fgrpc.FaultsStub(self.host.channel())
        return type(self)._shared

    def counters(self, tag):
        return self.stub().Counters(fpb.Mode(tag=tag), timeout=10)

    def unary(self, mode, **kw):
        return rpc(self.stub().Unary, fpb.Mode(mode=mode, **kw), timeout=15)

    def wait_stopped(self, tag, n, timeout=15):
        """All n handlers under tag have ended one way or the other."""
        return wait_until(lambda: (lambda c: c if c.started == n and c.stopped + c.ended == n else None)(
            self.counters(tag)), timeout, interval=0.05, what="%d handlers of %s to stop" % (n, tag))

    # --- clients that go away ---------------------------------------------------------------
    def test_client_killed_mid_stream(self):
        """A client process killed with streams of every kind open: the handlers are stopped
        and the connection's descriptors are released."""
        pid = self.host.proc.pid
        self.assertServing()
        fds_before = fd_count(pid)
        tag = "killed-" + uuid.uuid4().hex[:8]
        client = r"""
import sys, time, grpc
sys.path.insert(0, %(soak)r)
from faultstubs import faults_pb2 as fpb, faults_pb2_grpc as fgrpc
def trickle():
    while True:
        yield fpb.Chunk(seq=1)
        time.sleep(0.01)
ch = grpc.insecure_channel(%(target)r)
stub = fgrpc.FaultsStub(ch)
streams = [stub.Stream(fpb.StreamRequest(tag=%(tag)r, size=1000, sleep=0.01)) for _ in range(5)]
for s in streams:
    next(s)
chats = [stub.Chat(trickle()) for _ in range(3)]
for c in chats:
    next(c)
collects = [stub.Collect.future(trickle()) for _ in range(3)]
print("streaming", flush=True)
sys.stdin.read()
""" % {"soak": os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak"),
       "target": self.host.target, "tag": tag}
        proc = subprocess.Popen([sys.executable, "-c", client], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, HOST_SOURCE_DIR=os.environ.get("HOST_SOURCE_DIR", "")))
        try:
            self.assertEqual(proc.stdout.readline().strip(), "streaming")
            wait_until(lambda: self.counters(tag).sent >= 25, 10, what="the streams to flow")
            time.sleep(0.2)
        finally:
            proc.kill()
            proc.wait(10)
        c = self.wait_stopped(tag, 5)
        self.assertEqual(c.ended, 0)
        for kind in ("chat", "collect"):
            wait_until(lambda: (lambda c: c.started == c.stopped + c.ended)(self.counters(kind)), 15,
                       what="the %s handlers to stop" % kind)
        wait_until(lambda: fd_count(pid) <= fds_before + 1, 15,
                   what="the host's descriptors back to %d (now %d)" % (fds_before, fd_count(pid)))
        self.assertServing()

    def test_channel_closed_mid_stream(self):
        ch = self.host.channel(own_connection=True)
        stub = fgrpc.FaultsStub(ch)
        tag = "closed-" + uuid.uuid4().hex[:8]
        streams = [stub.Stream(fpb.StreamRequest(tag=tag, size=100, sleep=0.005)) for _ in range(20)]
        for s in streams:
            next(s)
        ch.close()
        for s in streams:
            _, code, _ = drain(s)
            self.assertEqual(code, CANCELLED)
        c = self.wait_stopped(tag, 20)
        self.assertEqual(c.ended, 0)
        self.assertServing()

    def test_cancel_mid_stream_of_every_kind(self):
        stub = self.stub(own_connection=True)
        tag = "cancel-" + uuid.uuid4().hex[:8]
        before = self.counters("chat").started, self.counters("collect").started
        s = stub.Stream(fpb.StreamRequest(tag=tag, size=10, sleep=0.01))
        next(s)
        stop = threading.Event()

        def forever():
            i = 0
            while not stop.is_set():
                i += 1
                yield fpb.Chunk(seq=i)
                time.sleep(0.005)
        chat = stub.Chat(forever())
        next(chat)
        collect = stub.Collect.future(forever())
        wait_until(lambda: self.counters("collect").received > 0, 10, what="Collect to receive")
        s.cancel()
        chat.cancel()
        collect.cancel()
        stop.set()
        self.wait_stopped(tag, 1)
        wait_until(lambda: (lambda c: c.started == c.stopped + c.ended)(self.counters("chat")), 10,
                   what="the Chat handler to stop")
        wait_until(lambda: (lambda c: c.started == c.stopped + c.ended)(self.counters("collect")), 10,
                   what="the Collect handler to stop")
        self.assertGreater(self.counters("chat").started, before[0])
        self.assertGreater(self.counters("collect").started, before[1])
        self.assertServing()

    # --- a client that stops reading ------------------------------------------------------
    def settled(self, tag, pid, limit=60):
        """Waits until the handlers under tag stop sending (two equal counts a second apart);
        returns (messages sent, peak host RSS in MB meanwhile)."""
        peak, last, deadline = 0.0, -1, time.monotonic() + limit
        while True:
            time.sleep(1.0)
            peak = max(peak, rss_kb(pid) / 1024)
            sent = self.counters(tag).sent
            if sent == last:
                return sent, peak
            self.assertLess(time.monotonic(), deadline, "the handlers never stopped sending (%d sent)" % sent)
            last = sent

    def test_client_stops_reading(self):
        """1 MB messages to a client that reads one and then nothing: the handler is held
        back by flow control (its count of sent messages stops rising), the host's memory
        stays bounded, the one worker serves other calls meanwhile, and a cancel stops it."""
        pid = self.host.proc.pid
        tag = "slow-" + uuid.uuid4().hex[:8]
        stub = self.stub(own_connection=True)
        rss0 = rss_kb(pid) / 1024
        s = stub.Stream(fpb.StreamRequest(tag=tag, size=1 << 20))
        next(s)
        sent, peak = self.settled(tag, pid)
        self.assertServing()
        time.sleep(1.0)
        self.assertEqual(self.counters(tag).sent, sent, "the handler went on sending to a client that reads nothing")
        if not SANITIZED:
            self.assertLess(peak - rss0, 150, "host RSS grew by %.0f MB for a stalled stream" % (peak - rss0))
        sys.stderr.write("\na stalled 1 MB stream: %d sent before flow control held it; host RSS %.0f -> "
                         "peak %.0f MB\n" % (sent, rss0, peak))
        s.cancel()
        c = self.wait_stopped(tag, 1)
        self.assertEqual(c.ended, 0)

    def test_small_messages_to_a_client_that_stops_reading(self):
        """100-byte messages to a client that reads one: the host holds only a few of them
        behind the one in flight, so once the client's window is full the handler waits, and
        its count of sent messages stops rising."""
        tag = "small-" + uuid.uuid4().hex[:8]
        s = self.stub(own_connection=True).Stream(fpb.StreamRequest(tag=tag, size=100))
        next(s)
        sent, _ = self.settled(tag, self.host.proc.pid)
        sys.stderr.write("\na stalled stream of 100 B messages: %d sent before flow control held it\n" % sent)
        self.assertServing()
        s.cancel()
        self.assertEqual(self.wait_stopped(tag, 1).ended, 0)

    def test_many_slow_readers(self):
        """Twenty 256 KB streams on one connection whose client reads one message each: the
        client's windows fill (python's grows them to ~16 MB a stream), the handlers stop,
        and the host's own memory stays bounded all along."""
        pid = self.host.proc.pid
        tag = "slow20-" + uuid.uuid4().hex[:8]
        stub = self.stub(own_connection=True)
        rss0 = rss_kb(pid) / 1024
        streams = [stub.Stream(fpb.StreamRequest(tag=tag, size=256 << 10)) for _ in range(20)]
        for s in streams:
            next(s)
        sent, peak = self.settled(tag, pid)
        if not SANITIZED:
            self.assertLess(peak - rss0, 150, "host RSS grew by %.0f MB" % (peak - rss0))
        sys.stderr.write("\n20 stalled streams: %d x 256 KB sent before flow control held them; "
                         "host RSS %.0f -> peak %.0f MB\n" % (sent, rss0, peak))
        self.assertServing()
        for s in streams:
            s.cancel()
        self.wait_stopped(tag, 20)

    def test_fast_sends_do_not_starve_the_worker(self):
        """Compressible 100 KB messages to a client that reads nothing: every send completes at
        once (gzip shrinks them), so the handler never waits; a unary call on the same (only)
        worker must still be answered within a second or two."""
        tag = "gz-" + uuid.uuid4().hex[:8]
        stub = self.stub(own_connection=True)
        s = stub.Stream(fpb.StreamRequest(tag=tag, size=100 << 10, compressible=True))
        next(s)
        try:
            t0 = time.monotonic()
            resp, code, details, _ = rpc(self.host.test_stub().Echo, pb.hosttest.EchoRequest(text="x"),
                                         timeout=60)
            waited = time.monotonic() - t0
            self.assertEqual(code, OK, details)
            self.assertLess(waited, 2.0, "a unary call waited %.1f s behind a streaming handler" % waited)
        finally:
            s.cancel()
            self.wait_stopped(tag, 1, timeout=60)

    # --- handlers that fail half-way ------------------------------------------------------
    def test_error_after_half_a_stream(self):
        stub = self.stub()
        for fail, code, text in (("grpc", grpc.StatusCode.ABORTED, "failed on purpose"),
                                 ("lua", grpc.StatusCode.UNKNOWN, "boom on purpose")):
            for size in (10, 200 << 10):
                with self.subTest(fail=fail, size=size):
                    got, c, details = drain(stub.Stream(fpb.StreamRequest(count=7, size=size, fail=fail),
                                                        timeout=30))
                    self.assertEqual([m.seq for m in got], list(range(1, 8)))
                    self.assertTrue(all(len(m.payload) == size for m in got))
                    self.assertEqual(c, code, details)
                    self.assertIn(text, details)

    def test_error_in_the_middle_of_a_client_stream(self):
        stub = self.stub()
        for tag, code in (("fail", grpc.StatusCode.FAILED_PRECONDITION), ("lua", grpc.StatusCode.UNKNOWN)):
            with self.subTest(tag):
                items = [fpb.Chunk(seq=i) for i in range(5)] + [fpb.Chunk(seq=5, tag=tag)] + \
                        [fpb.Chunk(seq=i) for i in range(6, 1000)]
                _, c, details, _ = rpc(stub.Collect, iter(items))
                self.assertEqual(c, code, details)
                self.assertIn("6", details)

    def test_error_in_the_middle_of_a_bidi_stream(self):
        stub = self.stub()
        for tag, code in (("fail", grpc.StatusCode.FAILED_PRECONDITION), ("lua", grpc.StatusCode.UNKNOWN)):
            with self.subTest(tag):
                items = [fpb.Chunk(seq=i) for i in range(1, 4)] + [fpb.Chunk(seq=4, tag=tag)] + \
                        [fpb.Chunk(seq=i) for i in range(5, 100)]
                got, c, details = drain(stub.Chat(iter(items), timeout=30))
                self.assertEqual([m.seq for m in got], [1, 2, 3])
                self.assertEqual(c, code, details)

    # --- __gc, coroutines, error objects ----------------------------------------------------
    def test_errors_in_gc(self):
        for mode in ("gc_error", "gc_yield", "gc_resurrect", "gc_later"):
            with self.subTest(mode):
                resp, code, details, _ = self.unary(mode)
                self.assertEqual(code, OK, details)
        # The garbage gc_later left behind is collected during the calls that follow.
        stub = self.host.test_stub()
        for i in range(300):
            resp, code, details, _ = rpc(stub.Echo, pb.hosttest.EchoRequest(text="x" * 1000, numbers=range(100)))
            self.assertEqual(code, OK, details)
        for _ in range(20):
            self.assertEqual(self.unary("gc_later")[1], OK)
        self.assertEqual(self.unary("gc_error")[1], OK)

    def test_errors_in_coroutines(self):
        resp, code, details, _ = self.unary("co_error")
        self.assertEqual(code, OK, details)
        self.assertTrue(resp.value.startswith("false: "), resp.value)
        self.assertIn("error in a coroutine", resp.value)
        resp, code, details, _ = self.unary("co_wrap_error")
        self.assertEqual(code, grpc.StatusCode.UNKNOWN)
        self.assertIn("error in a wrapped coroutine", details)
        resp, code, details, _ = self.unary("co_close")
        self.assertEqual(code, OK, details)
        resp, code, details, _ = self.unary("pcall_sleep")
        self.assertEqual(code, OK, details)
        self.assertEqual(resp.value, "true")

    def test_odd_error_objects(self):
        for mode in ("error_table", "error_nil", "error_tostring_raises", "error_huge", "error_in_close",
                     "bad_reply", "lua_error"):
            with self.subTest(mode):
                _, code, details, _ = self.unary(mode)
                self.assertIsNotNone(code)
                self.assertNotEqual(code, OK, details)
                self.assertNotEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertServing()


class NestedYieldTest(unittest.TestCase):
    """grpc.sleep, call:recv and call:send called inside a coroutine the handler made would
    yield that coroutine, not the handler: the host must refuse with an error (the call ends
    UNKNOWN), and live on. Repeated, for the sanitizers to see any use after free."""

    def test_yield_from_a_coroutine_of_the_handler(self):
        host = Host(workers=1)
        with host:
            stub = fgrpc.FaultsStub(host.channel())
            seen = {}
            for _ in range(30):
                for mode in ("co_sleep", "co_sleep_abandoned"):
                    _, code, details, _ = rpc(stub.Unary, fpb.Mode(mode=mode), timeout=15)
                    seen.setdefault(mode, set()).add(code)
                for tag in ("co_recv", "co_send"):
                    got, code, details = drain(stub.Chat(
                        iter([fpb.Chunk(seq=1, tag=tag), fpb.Chunk(seq=2), fpb.Chunk(seq=3)]),
                        timeout=15))
                    seen.setdefault(tag, set()).add(code)
            resp, code, details, _ = rpc(host.test_stub().Echo, pb.hosttest.EchoRequest(text="x"))
            self.assertEqual(code, OK, details)
            host.stop()
        sys.stderr.write("\nyields from a handler's own coroutine: %s\n"
                         % {k: sorted(c.name for c in v) for k, v in seen.items()})
        for what in ("co_sleep", "co_recv", "co_send"):
            self.assertEqual(seen[what], {grpc.StatusCode.UNKNOWN}, what)
        # Resumed by hand, the inner coroutine gets the error back: the handler goes on.
        self.assertEqual(seen["co_sleep_abandoned"], {OK})


class ManyStreamsTest(unittest.TestCase):
    """Thousands of concurrent calls over a few connections."""

    def test_2000_concurrent_calls(self):
        with Host(workers=2, args=["--max-streams", "1000"]) as host:
            pid = host.proc.pid
            channels = [host.channel(own_connection=True) for _ in range(4)]
            tests = [pb.hosttest_grpc.TestStub(ch) for ch in channels]
            faults = [fgrpc.FaultsStub(ch) for ch in channels]
            t0 = time.monotonic()
            sleeps = [tests[i % 4].Sleep.future(pb.hosttest.SleepRequest(seconds=1.0), timeout=120)
                      for i in range(1000)]
            streams = [faults[i % 4].Stream(fpb.StreamRequest(count=3, size=100, sleep=0.5), timeout=120)
                       for i in range(1000)]
            for f in sleeps:
                self.assertGreaterEqual(f.result().slept, 0.95)
            for s in streams:
                got, code, details = drain(s)
                self.assertEqual(code, OK, details)
                self.assertEqual(len(got), 3)
            took = time.monotonic() - t0
            self.assertLess(took, 60, "2,000 calls of ~1.5 s took %.1f s" % took)
            resp, code, details, _ = rpc(tests[0].Echo, pb.hosttest.EchoRequest(text="after"))
            self.assertEqual(code, OK, details)
            sys.stderr.write("\n2,000 concurrent calls: %.1f s, host RSS %.0f MB, %d fds\n"
                             % (took, rss_kb(pid) / 1024, fd_count(pid)))


class SigtermTest(unittest.TestCase):
    """SIGTERM while 1,000 streams are open: every stream ends with a status (OK, CANCELLED
    or UNAVAILABLE), none hangs, and the host exits 0 soon after its grace period."""

    GRACE_MS = 500

    def test_sigterm_with_1000_streams_open(self):
        host = Host(workers=2, args=["--max-streams", "600", "--grace-ms", str(self.GRACE_MS)])
        with host:
            channels = [host.channel(own_connection=True) for _ in range(2)]
            stubs = [fgrpc.FaultsStub(ch) for ch in channels]
            tag = "term"
            streams = [stubs[i % 2].Stream(fpb.StreamRequest(tag=tag, size=10, sleep=0.2), timeout=120)
                       for i in range(1000)]
            for s in streams:
                next(s)
            # Half of them also mid-message: 10 more big ones that never get read.
            big = [stubs[i % 2].Stream(fpb.StreamRequest(tag="big", size=1 << 20), timeout=120)
                   for i in range(10)]
            for s in big:
                next(s)
            t0 = time.monotonic()
            host.send_signal(signal.SIGTERM)
            codes = {}
            for s in streams + big:
                _, code, details = drain(s)
                codes[code] = codes.get(code, 0) + 1
            ended = time.monotonic() - t0
            rc = host.stop(timeout=30)
            exited = time.monotonic() - t0
            self.assertEqual(rc, 0, host.output())
        self.assertTrue(set(codes) <= {OK, CANCELLED, UNAVAILABLE}, codes)
        self.assertEqual(sum(codes.values()), 1010)
        self.assertLess(ended, self.GRACE_MS / 1000 + 10, "streams took %.1f s to end" % ended)
        self.assertLess(exited, self.GRACE_MS / 1000 + 15, "the host took %.1f s to exit" % exited)
        sys.stderr.write("\nSIGTERM with 1,010 streams: %s; all ended in %.1f s, host exited 0 in %.1f s\n"
                         % ({c.name: n for c, n in codes.items()}, ended, exited))


if __name__ == "__main__":
    unittest.main()
