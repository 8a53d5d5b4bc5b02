"""Messages through the codec over the wire: round trips, 4 MiB, malformed requests, replies
of the wrong shape, and a bidi stream of 10,000 messages."""

import time
import unittest

import grpc

from harness import HostTestCase, pb, rpc

E = pb.hosttest.EchoRequest


def ident(x):
    return x


class MessagesTest(HostTestCase):
    def setUp(self):
        self.stub = self.host.test_stub()

    def echo(self, req, **kw):
        resp, code, details, _ = rpc(self.stub.Echo, req, **kw)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        return resp

    def test_round_trip(self):
        req = E(text="héllo ✓", blob=bytes(range(256)) * 3, count=-2 ** 63,
                numbers=[0, -1, 1, 2 ** 31 - 1, -2 ** 31], labels={"a": "1", "": "empty", "ü": "x"},
                color=pb.hosttest.GREEN, item=pb.hosttest.Item(seq=2 ** 63 - 1, tag="t", payload=b"\0"))
        self.assertEqual(self.echo(req), req)

    def test_round_trip_defaults(self):
        self.assertEqual(self.echo(E()), E())
        self.assertEqual(self.echo(E(item=pb.hosttest.Item())), E(item=pb.hosttest.Item()))

    def test_four_mib_message(self):
        blob = bytes((i * 7 + 3) & 0xFF for i in range(4 * 1024 * 1024 - 1024))
        t0 = time.monotonic()
        resp = self.echo(E(blob=blob, text="big"), timeout=60)
        self.assertEqual(resp.text, "big")
        self.assertEqual(len(resp.blob), len(blob))
        self.assertTrue(resp.blob == blob, "the 4 MiB blob came back changed")
        self.assertLess(time.monotonic() - t0, 30)
        self.assertServing(self.stub)

    def _raw_echo(self, data):
        method = self.host.channel().unary_unary("/hosttest.Test/Echo", request_serializer=ident,
                                                 response_deserializer=ident)
        try:
            return method(data, timeout=30), grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            return None, e.code(), e.details()

    def test_raw_bytes_accepted(self):
        data = E(text="raw", count=5).SerializeToString()
        resp, code, details = self._raw_echo(data)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(E.FromString(resp), E(text="raw", count=5))

    def test_malformed_request(self):
        cases = {
            "length past the end": b"\x0a\xff",
            "truncated length": b"\x0a\xff\xff",
            "string shorter than its length": b"\x0a\x05ab",
            "truncated varint": b"\x18\xff",
            "bad wire type": b"\x0f\x01",
            "nested message truncated": b"\x3a\x04\x08\x01\x12\x05ab",
            "packed varint truncated": b"\x22\x02\x01\xff",
        }
        for name, data in cases.items():
            with self.subTest(name):
                resp, code, details = self._raw_echo(data)
                self.assertEqual(code, grpc.StatusCode.INTERNAL,
                                 "%s: got %s %r" % (name, code, resp))
        self.assertServing(self.stub)

    def test_malformed_message_in_a_stream(self):
        method = self.host.channel().stream_stream(
            "/hosttest.Test/BidiEcho", request_serializer=ident, response_deserializer=ident)
        good = pb.hosttest.Item(seq=1).SerializeToString()
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for r in method(iter([good, b"\x08\xff"]), timeout=30):
                got.append(r)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertLessEqual(len(got), 1)
        self.assertServing(self.stub)

    def wrong(self, mode):
        mark = self.host.mark()
        _, code, details, _ = rpc(self.stub.WrongType, pb.hosttest.WrongTypeRequest(mode=mode))
        self.assertEqual(code, grpc.StatusCode.INTERNAL, "%s: %s %s" % (mode, code, details))
        return details, mark

    def test_wrong_type(self):
        details, mark = self.wrong("type")
        self.assertIn("reply.count", details)
        self.assertIn("expected integer", details)
        self.host.wait_log(lambda l: "reply.count" in l, start=mark, timeout=10,
                           what="a log line naming reply.count")

    def test_wrong_type_nested(self):
        details, _ = self.wrong("nested")
        self.assertIn("reply.items[2].id", details)
        self.assertIn("expected integer", details)

    def test_wrong_shape_others(self):
        for mode, field in [("unknown_field", "no_such_field"), ("range", "reply.small"),
                            ("enum", "reply.color"), ("fraction", "reply.count")]:
            with self.subTest(mode):
                details, _ = self.wrong(mode)
                self.assertIn(field, details)
        details, _ = self.wrong("not_table")
        self.assertServing(self.stub)

    def test_right_shape(self):
        resp, code, details, _ = rpc(self.stub.WrongType, pb.hosttest.WrongTypeRequest(mode="ok"))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp, pb.hosttest.WrongTypeReply(
            count=7, items=[pb.hosttest.Entry(id=1, name="a")], small=3, color=pb.hosttest.GREEN))

    def test_bidi_10000_messages(self):
        n = 10000
        reqs = (pb.hosttest.Item(seq=i, tag="m%d" % i) for i in range(1, n + 1))
        t0 = time.monotonic()
        got = [(r.seq, r.tag) for r in self.stub.BidiEcho(reqs, timeout=120)]
        self.assertEqual(len(got), n)
        self.assertEqual(got, [(i, "m%d" % i) for i in range(1, n + 1)])
        self.assertLess(time.monotonic() - t0, 45)


if __name__ == "__main__":
    unittest.main()
