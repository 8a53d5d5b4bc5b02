"""The example: helloworld.Greeter served by scripts/greeter.lua, all four call kinds."""

import unittest

import grpc

from harness import HostTestCase, pb, rpc

Req = pb.helloworld.HelloRequest


class GreeterTest(HostTestCase):
    def setUp(self):
        self.stub = self.host.greeter_stub()

    def test_say_hello(self):
        for name in ["world", "", "wörld ✓ 日本", "x" * 10000]:
            resp, code, details, _ = rpc(self.stub.SayHello, Req(name=name))
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertEqual(resp.message, "Hello " + name)

    def test_say_hello_many_calls(self):
        for i in range(300):
            resp = self.stub.SayHello(Req(name="n%d" % i), timeout=30)
            self.assertEqual(resp.message, "Hello n%d" % i)

    def test_say_hello_many_calls_in_parallel(self):
        futs = [self.stub.SayHello.future(Req(name="p%d" % i), timeout=30) for i in range(400)]
        got = [f.result().message for f in futs]
        self.assertEqual(got, ["Hello p%d" % i for i in range(400)])

    def test_server_stream(self):
        for i in range(50):
            name = "s%d" % i
            replies = [r.message for r in self.stub.SayHelloStreamReply(Req(name=name), timeout=30)]
            self.assertGreaterEqual(len(replies), 1)
            for r in replies:
                self.assertTrue(r.startswith("Hello " + name), r)

    def test_client_stream(self):
        names = ["c%d" % i for i in range(1000)]
        resp = self.stub.SayHelloClientStream(iter([Req(name=n) for n in names]), timeout=30)
        self.assertTrue(resp.message.startswith("Hello "), resp.message[:100])
        pos = 0
        for n in names:  # every name, in order
            found = resp.message.find(n, pos)
            self.assertGreaterEqual(found, pos, "name %s missing or out of order" % n)
            pos = found + len(n)

    def test_client_stream_empty(self):
        resp, code, details, _ = rpc(self.stub.SayHelloClientStream, iter([]))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertTrue(resp.message.startswith("Hello"), resp.message)

    def test_bidi_stream(self):
        names = ["b%d" % i for i in range(2000)]
        replies = [r.message for r in
                   self.stub.SayHelloBidiStream(iter([Req(name=n) for n in names]), timeout=60)]
        self.assertEqual(replies, ["Hello " + n for n in names])

    def test_bidi_stream_empty(self):
        self.assertEqual(list(self.stub.SayHelloBidiStream(iter([]), timeout=30)), [])


if __name__ == "__main__":
    unittest.main()
