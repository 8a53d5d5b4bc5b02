"""Streaming with many messages: server streaming, client streaming, bidi in lock step."""

import queue
import unittest

import grpc

from harness import HostTestCase, pb, rpc

Item = pb.hosttest.Item


class StreamsTest(HostTestCase):
    def setUp(self):
        self.stub = self.host.test_stub()

    def test_server_stream_many(self):
        n = 5000
        got = [(r.seq, r.payload) for r in
               self.stub.Range(pb.hosttest.RangeRequest(count=n, payload=b"p" * 100), timeout=60)]
        self.assertEqual(got, [(i, b"p" * 100) for i in range(1, n + 1)])

    def test_server_stream_large_messages(self):
        # 64 x 256 KiB: more than any flow-control window, so send has to wait for the reader.
        payload = bytes(range(256)) * 1024
        n = 0
        for r in self.stub.Range(pb.hosttest.RangeRequest(count=64, payload=payload), timeout=60):
            n += 1
            self.assertEqual(r.seq, n)
            self.assertTrue(r.payload == payload)
        self.assertEqual(n, 64)

    def test_server_stream_empty(self):
        self.assertEqual(list(self.stub.Range(pb.hosttest.RangeRequest(count=0), timeout=30)), [])

    def test_client_stream_many(self):
        n = 10000
        base = 2 ** 40
        resp, code, details, _ = rpc(self.stub.Sum, (Item(seq=base + i) for i in range(n)), timeout=60)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.count, n)
        self.assertEqual(resp.sum, n * base + n * (n - 1) // 2)

    def test_client_stream_empty(self):
        resp, code, details, _ = rpc(self.stub.Sum, iter([]))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual((resp.sum, resp.count), (0, 0))

    def test_client_stream_negative_int64(self):
        vals = [-2 ** 63, 2 ** 63 - 1, -1, 1]
        resp, code, details, _ = rpc(self.stub.Sum, iter([Item(seq=v) for v in vals]))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.sum, -1 + 1 + (2 ** 63 - 1) - 2 ** 63)

    def test_bidi_lock_step(self):
        # Each reply must come before the client sends the next request.
        requests = queue.Queue()

        def gen():
            while True:
                item = requests.get()
                if item is None:
                    return
                yield item

        call = self.stub.BidiEcho(gen(), timeout=60)
        try:
            for i in range(300):
                requests.put(Item(seq=i, tag="step"))
                r = next(call)
                self.assertEqual((r.seq, r.tag), (i, "step"))
        finally:
            requests.put(None)
        self.assertEqual(list(call), [])
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_bursts_arrive_whole_before_the_handler_waits(self):
        # The host lets the transport buffer back-to-back sends; whatever the handler waits on
        # next (a request, a sleep), the burst before it must reach the client in full.
        requests = queue.Queue()
        call = self.stub.Burst(iter(requests.get, None), timeout=30)
        try:
            for n in [1, 2, 3, 5, 8, 200, 1]:
                requests.put(Item(seq=n, tag="recv"))
                self.assertEqual([next(call).seq for _ in range(n)], list(range(1, n + 1)))
            requests.put(Item(seq=3, tag="sleep"))
            self.assertEqual([next(call).seq for _ in range(3)], [1, 2, 3])
        finally:
            call.cancel()
            requests.put(None)

    def test_many_streams_at_once(self):
        calls = [self.stub.Range(pb.hosttest.RangeRequest(count=200), timeout=60) for _ in range(30)]
        for c in calls:
            self.assertEqual([r.seq for r in c], list(range(1, 201)))


if __name__ == "__main__":
    unittest.main()
