"""Handlers are coroutines: sleeping calls do not hold up others; --max-streams."""

import threading
import time
import unittest

import grpc

from harness import Host, HostTestCase, pb, rpc


def sleep_calls(stubs, n, seconds):
    """Starts n Sleep(seconds) calls spread over stubs; returns (wall time, replies)."""
    t0 = time.monotonic()
    futs = [stubs[i % len(stubs)].Sleep.future(pb.hosttest.SleepRequest(seconds=seconds), timeout=30)
            for i in range(n)]
    replies = [f.result() for f in futs]
    return time.monotonic() - t0, replies


class ConcurrencyTest(HostTestCase):
    host_options = {"workers": 2}

    def test_200_concurrent_sleeps(self):
        # Several connections, as a gateway would open; each stays under the
        # default 100 concurrent streams per connection.
        stubs = [self.host.test_stub(own_connection=True) for _ in range(4)]
        for s in stubs:  # warm up each connection
            self.assertServing(s)
        wall, replies = sleep_calls(stubs, 200, 0.5)
        self.assertEqual(len(replies), 200)
        for r in replies:
            self.assertGreaterEqual(r.slept, 0.45)
        self.assertGreaterEqual(wall, 0.5)
        self.assertLess(wall, 2.0, "200 calls sleeping 0.5 s each took %.2f s" % wall)

    def test_sleep_does_not_block_the_worker(self):
        stub = self.host.test_stub()
        # More sleepers than workers, then unary calls that must not wait for them.
        sleepers = [stub.Sleep.future(pb.hosttest.SleepRequest(seconds=3), timeout=30)
                    for _ in range(8)]
        t0 = time.monotonic()
        for i in range(20):
            self.assertEqual(stub.Echo(pb.hosttest.EchoRequest(count=i), timeout=10).count, i)
        self.assertLess(time.monotonic() - t0, 2.5, "unary calls waited for sleeping handlers")
        for f in sleepers:
            self.assertGreaterEqual(f.result().slept, 2.9)

    def test_parallel_clients(self):
        # Many threads on several connections, every answer must match its request.
        stubs = [self.host.test_stub(own_connection=True) for _ in range(4)]
        errors = []

        def client(k):
            stub = stubs[k % len(stubs)]
            try:
                for i in range(100):
                    text = "c%d-%d" % (k, i)
                    r = stub.Echo(pb.hosttest.EchoRequest(text=text, count=i, numbers=[k, i]),
                                  timeout=30)
                    if (r.text, r.count, list(r.numbers)) != (text, i, [k, i]):
                        errors.append((text, r))
                for item in stub.BidiEcho(iter([pb.hosttest.Item(seq=j, tag=str(k))
                                                for j in range(200)]), timeout=30):
                    if item.tag != str(k):
                        errors.append(item)
            except grpc.RpcError as e:
                errors.append(e)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])


class MaxStreamsTest(unittest.TestCase):
    def test_max_streams_limits_one_connection(self):
        # With --max-streams 5, 10 sleeping calls on one connection go in two waves.
        with Host(workers=2, args=["--max-streams", "5"]) as host:
            stub = host.test_stub()
            _, code, details, _ = rpc(stub.Echo, pb.hosttest.EchoRequest())
            self.assertEqual(code, grpc.StatusCode.OK, details)
            wall, replies = sleep_calls([stub], 10, 0.5)
            self.assertEqual(len(replies), 10)
            self.assertGreaterEqual(wall, 0.95, "10 calls ran at once despite --max-streams 5")
            self.assertLess(wall, 5)


if __name__ == "__main__":
    unittest.main()
