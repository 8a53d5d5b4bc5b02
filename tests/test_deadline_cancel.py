"""Deadlines and client cancellation: the handler sees its stop at the next send, recv or
sleep, and the host keeps serving. The stoppable handlers of hosttest.lua count in a
per-worker table, so this host runs one worker."""

import queue
import threading
import time
import unittest
import uuid

import grpc

from harness import HostTestCase, pb, rpc, rss_kb, wait_until

STOP_TIMEOUT = 10.0  # seconds for a handler to notice it was stopped


class DeadlineCancelTest(HostTestCase):
    host_options = {"workers": 1}

    def setUp(self):
        self.stub = self.host.test_stub()
        self.tag = "%s-%s" % (self._testMethodName, uuid.uuid4().hex[:8])

    def report(self, tag=None):
        return self.stub.Stopped(pb.hosttest.StopRequest(tag=tag or self.tag), timeout=10)

    def assertStopped(self, n=1, tag=None):
        """Waits until n handlers under tag saw their stop; none may have finished."""
        r = wait_until(lambda: (lambda r: r if r.stopped >= n else None)(self.report(tag)),
                       STOP_TIMEOUT, what="%d handler(s) to see their stop" % n)
        self.assertEqual(r.started, n)
        self.assertEqual(r.stopped, n)
        self.assertEqual(r.finished, 0)
        return r

    # --- deadlines --------------------------------------------------------------------
    def test_deadline_seen_by_handler(self):
        resp, code, details, _ = rpc(self.stub.Deadline, pb.hosttest.Empty(), timeout=10)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertTrue(resp.has_deadline)
        self.assertGreater(resp.seconds, 5)
        self.assertLessEqual(resp.seconds, 10.5)  # grpc-timeout is rounded up

    def test_no_deadline(self):
        resp, code, details, _ = rpc(self.stub.Deadline, pb.hosttest.Empty(), timeout=None)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertFalse(resp.has_deadline)

    def test_deadline_exceeded_in_sleep(self):
        t0 = time.monotonic()
        _, code, details, _ = rpc(self.stub.Sleep, pb.hosttest.SleepRequest(seconds=5, tag=self.tag),
                                  timeout=0.5)
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED, details)
        self.assertLess(time.monotonic() - t0, 3)
        self.assertServing(self.stub)
        # The handler stops in its grpc.sleep rather than sleeping on and returning.
        r = self.assertStopped()
        self.assertEqual(r.progress, 0)

    def test_deadline_exceeded_while_sleeping_in_a_loop(self):
        call = self.stub.SleepForever(pb.hosttest.StopRequest(tag=self.tag), timeout=1.0)
        first = next(call)
        self.assertEqual(first.tag, self.tag)
        with self.assertRaises(grpc.RpcError) as cm:
            next(call)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertStopped()
        self.assertServing(self.stub)

    def test_deadline_exceeded_while_sending(self):
        # The client never reads past the first message: the handler blocks in send
        # (flow control) until the deadline passes.
        call = self.stub.Forever(pb.hosttest.StopRequest(tag=self.tag), timeout=1.0)
        next(call)
        r = self.assertStopped()
        with self.assertRaises(grpc.RpcError) as cm:
            for _ in call:
                pass
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertGreater(r.progress, 0)
        self.assertServing(self.stub)

    # --- cancellation -----------------------------------------------------------------
    def assertLoggedCancelled(self, method, mark):
        """The host logs the call as CANCELLED (not OK)."""
        line = self.host.wait_log(lambda l: "method=" + method + " " in l and "status=" in l,
                                  start=mark, timeout=STOP_TIMEOUT,
                                  what="the log line of the call to " + method)
        self.assertIn("status=CANCELLED", line)

    def test_cancel_server_stream_mid_stream(self):
        mark = self.host.mark()
        call = self.stub.Forever(pb.hosttest.StopRequest(tag=self.tag), timeout=60)
        for i in range(1, 6):
            self.assertEqual(next(call).seq, i)
        call.cancel()
        with self.assertRaises(grpc.RpcError) as cm:
            for _ in call:
                pass
        self.assertEqual(cm.exception.code(), grpc.StatusCode.CANCELLED)
        r = self.assertStopped()
        self.assertGreaterEqual(r.progress, 5)
        self.assertLoggedCancelled("/hosttest.Test/Forever", mark)
        self.assertServing(self.stub)

    def test_cancel_while_handler_sleeps(self):
        call = self.stub.SleepForever(pb.hosttest.StopRequest(tag=self.tag), timeout=60)
        next(call)
        call.cancel()
        self.assertStopped()
        self.assertServing(self.stub)

    def test_cancel_while_handler_waits_in_recv(self):
        requests = queue.Queue()

        def gen():
            while True:
                item = requests.get()
                if item is None:
                    return
                yield item

        mark = self.host.mark()
        call = self.stub.Waiter(gen(), timeout=60)
        try:
            requests.put(pb.hosttest.Item(seq=1, tag=self.tag))
            self.assertEqual(next(call).tag, self.tag)
            wait_until(lambda: self.report().started == 1, STOP_TIMEOUT,
                           what="the Waiter handler to start")
            call.cancel()
            self.assertStopped()
        finally:
            requests.put(None)
        self.assertLoggedCancelled("/hosttest.Test/Waiter", mark)
        self.assertServing(self.stub)

    def test_cancel_unary_while_sleeping(self):
        fut = self.stub.Sleep.future(pb.hosttest.SleepRequest(seconds=30, tag=self.tag), timeout=60)
        wait_until(lambda: self.report().started == 1, STOP_TIMEOUT, what="the Sleep handler to start")
        fut.cancel()
        self.assertStopped()
        self.assertServing(self.stub)

    def test_many_cancelled_streams(self):
        n = 40
        # Their own connection: unread, they fill its window (see test_slow_reader_...).
        streams = pb.hosttest_grpc.TestStub(self.host.channel(own_connection=True))
        calls = [streams.Forever(pb.hosttest.StopRequest(tag=self.tag), timeout=60) for _ in range(n)]
        for c in calls:
            next(c)
        for c in calls:
            c.cancel()
        self.assertStopped(n)
        self.assertServing(self.stub)

    def test_client_half_close_is_not_a_cancel(self):
        # A bidi whose client half-closes: recv returns nil and the handler ends normally.
        resp = list(self.stub.Waiter(iter([pb.hosttest.Item(seq=1, tag=self.tag)]), timeout=30))
        self.assertEqual([r.tag for r in resp], [self.tag])
        r = wait_until(lambda: (lambda r: r if r.finished + r.stopped >= 1 else None)(self.report()),
                       STOP_TIMEOUT, what="the Waiter handler to end")
        self.assertEqual((r.finished, r.stopped), (1, 0), r.reason)

    def test_slow_reader_does_not_block_others(self):
        # One stream nobody reads (its handler suspends in send), other calls go on. The stream
        # has a connection of its own: on a shared one, HTTP/2's connection window, which the
        # unread stream fills, would hold up the other replies whatever the server does.
        rss_before = rss_kb(self.host.proc.pid)
        slow = pb.hosttest_grpc.TestStub(self.host.channel(own_connection=True))
        call = slow.Forever(pb.hosttest.StopRequest(tag=self.tag), timeout=60)
        next(call)
        done = threading.Event()
        errors = []

        def others():
            try:
                for i in range(50):
                    r = self.stub.Echo(pb.hosttest.EchoRequest(count=i), timeout=10)
                    if r.count != i:
                        errors.append(r)
            except grpc.RpcError as e:
                errors.append(e)
            done.set()

        t = threading.Thread(target=others)
        t.start()
        self.assertTrue(done.wait(30), "unary calls blocked behind a slow reader")
        t.join()
        self.assertEqual(errors, [])
        # The host has not buffered without bound. (How many messages the handler sent says
        # little: python's client keeps taking them off the socket while nobody reads.)
        grown = rss_kb(self.host.proc.pid) - rss_before
        self.assertLess(grown, 64 * 1024, "the host grew %d kB for a client that reads nothing" % grown)
        call.cancel()
        self.assertStopped()


if __name__ == "__main__":
    unittest.main()
