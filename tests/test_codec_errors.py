"""Every encode and decode error of the codec end to end: the client gets INTERNAL with the
field path in the details, the host logs it, and goes on serving. (The codec's unit tests,
tests/codec_test.c, check the same reasons at the C level; tests/test_messages.py checks a few
of the encode errors on hosttest.Test.)"""

import unittest

import grpc

from harness import HostTestCase, rpc
from codecstubs import rt, types



def ident(x):
    return x


DEEP = "nesting deeper than 100"


def logged(details, method):
    """A predicate for the host's log line of a call that failed with details."""
    quoted = details.replace("\\", "\\\\").replace('"', '\\"')
    return lambda line: "method=" + method in line and quoted in line


class EncodeErrorTest(HostTestCase):
    """Replies of the wrong shape (RoundTrip/Bad builds them by mode)."""

    CASES = {
        "map_key": 'reply.all.m_int32["x"]: map key: expected integer, got string',
        "map_key_bool": "reply.all.m_bool[1]: map key: expected boolean, got number",
        "map_value": 'reply.all.m_nested["k"].id: expected integer, got string',
        "not_array": 'reply.all.r_int32: expected array, got table with key "a"',
        "holes": "reply.all.r_string: expected array, element 2 is missing",
        "not_table": "reply.all.r_nested: expected array, got number",
        "float_int": "reply.all.f_int64: expected integer, got number 1.5",
        "range": "reply.all.f_int32: 2147483648 is out of range for int32",
        "range_unsigned": "reply.all.r_uint32[2]: -1 is out of range for uint32",
        "enum_name": 'reply.all.r_color[2]: unknown value "PURPLE" of enum codectest.Color',
        "closed_enum": "reply.legacy.size: 9 is not a value of enum codectest2.Size",
        "wrong_type": "reply.all.f_nested.name: expected string, got number",
        "unknown_field": "reply.all.nope: unknown field of codectest.AllTypes",
        "required": "reply.legacy.id: missing required field",
        "required_group": "reply.legacy.entry[2].key: missing required field",
        "utf8": "reply.all.r_string[2]: invalid UTF-8",
        "oneof": "reply.all: only one of oneof 'choice' may be set (c_int, c_string)",
        "wkt": "reply.wkt.ts.seconds: expected integer, got string",
        "reply": "reply: expected a table (codectest.Generated), got number",
    }

    def bad(self, mode):
        stub = rt.RoundTripStub(self.host.channel())
        return rpc(stub.Bad, rt.BadRequest(mode=mode))

    def test_ok(self):
        resp, code, details, _ = self.bad("ok")
        self.assertEqual(code, grpc.StatusCode.OK, details)
        depth, n = 0, resp.node
        while n.HasField("child"):
            n, depth = n.child, depth + 1
        self.assertEqual(depth, 99)   # node + 99 levels: 100 below the root

    def test_each(self):
        for mode, want in self.CASES.items():
            with self.subTest(mode):
                mark = self.host.mark()
                _, code, details, _ = self.bad(mode)
                self.assertEqual(code, grpc.StatusCode.INTERNAL, "%s: %s" % (mode, details))
                self.assertEqual(details, want)
                self.host.wait_log(logged(want, "/codectest.RoundTrip/Bad"), start=mark,
                                   what="a log line with " + want)
        self.assertServing()

    def test_too_deep(self):
        for mode, step in (("deep", ".child"), ("cycle", ".children[1]")):
            with self.subTest(mode):
                _, code, details, _ = self.bad(mode)
                self.assertEqual(code, grpc.StatusCode.INTERNAL, details)
                self.assertTrue(details.startswith("reply.node" + step * 3), details)
                self.assertTrue(details.endswith(step * 2 + ": " + DEEP), details)

    def test_in_a_stream(self):
        stub = rt.RoundTripStub(self.host.channel())
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for r in stub.BadStream(rt.BadRequest(mode="range_unsigned"), timeout=30):
                got.append(r)
        self.assertEqual([g.all.f_string for g in got], ["first"])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertEqual(cm.exception.details(), "reply.all.r_uint32[2]: -1 is out of range for uint32")

    def test_grpc_encode_uncaught(self):
        """grpc.encode raises a plain Lua error: uncaught, the call ends with UNKNOWN."""
        _, code, details, _ = self.bad("grpc_encode")
        self.assertEqual(code, grpc.StatusCode.UNKNOWN, details)
        self.assertIn("grpc.encode: codectest.AllTypes.f_int32: expected integer, got string", details)


class DecodeErrorTest(HostTestCase):
    """Requests that are not what the method takes."""

    ECHO = {   # codectest.AllTypes bytes -> details
        "28 96": "request.f_int32: truncated varint",
        "28": "request.f_int32: truncated varint",
        "28 ff ff ff ff ff ff ff ff ff ff 01": "request.f_int32: varint longer than 10 bytes",
        "2a 00": "request.f_int32: wire type 2 is wrong for int32",
        "4d 00 00 00 00": "request.f_string: wire type 5 is wrong for string",
        "90 01 00": "request.f_nested: wire type 0 is wrong for message",
        "e8 03 00": "request.m_int32: wire type 0 is wrong for map",
        "8a 03 00 8d 03 00": "request.r_string[2]: wire type 5 is wrong for string",
        "4a 05 61": "request.f_string: length past the end",
        "4a ff ff ff ff ff ff ff ff ff 01": "request.f_string: length past the end",
        "ea 02 05 01 02": "request.r_int32: length past the end",
        "3d 01 02": "request.f_fixed32: truncated fixed32",
        "09 01 02 03": "request.f_double: truncated fixed64",
        "4a 01 ff": "request.f_string: invalid UTF-8",
        "4a 03 ed a0 80": "request.f_string: invalid UTF-8",   # a surrogate
        "ca 03 02 08 01 ca 03 03 12 01 c0": "request.r_nested[2].name: invalid UTF-8",
        "c2 04 03 0a 01 ff": "request.m_string: map key: invalid UTF-8",
        "c2 04 06 0a 01 78 12 01 ff": 'request.m_string["x"]: invalid UTF-8',
        "ca 04 07 0a 01 6b 12 02 08 80": 'request.m_nested["k"].id: truncated varint',
        "92 01 03 1a 01 80": "request.f_nested.values[1]: truncated varint",
        "ea 02 03 01 02 80": "request.r_int32[3]: truncated varint",
        "00 00": "request: invalid field number 0",
        "a7 06 00": "request: invalid wire type 7",
        "a3 06 08 01": "request: missing end-group tag 100",
        "28 01 2c": "request: unexpected end-group tag 5",
    }

    def call(self, path, data, kind="unary_unary"):
        m = getattr(self.host.channel(), kind)(path, request_serializer=ident, response_deserializer=ident)
        try:
            return m(data, timeout=30), grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            return None, e.code(), e.details()

    def test_each(self):
        for hexs, want in self.ECHO.items():
            with self.subTest(hexs):
                mark = self.host.mark()
                _, code, details = self.call("/codectest.Echo/Echo", bytes.fromhex(hexs))
                self.assertEqual(code, grpc.StatusCode.INTERNAL, details)
                self.assertEqual(details, want)
                self.host.wait_log(logged(want, "/codectest.Echo/Echo"), start=mark,
                                   what="a log line with " + want)

    def test_proto2(self):
        for hexs, want in {
            "": "request.id: missing required field",
            "08 01 7a 00": "request.next.id: missing required field",
            "08 01 6b 6c": "request.entry[1].key: missing required field",
            "08 01 53 58 01": "request.item: missing end-group tag 10",
            "08 01 52 00": "request.item: wire type 2 is wrong for group",
        }.items():
            with self.subTest(hexs):
                got = []
                m = self.host.channel().stream_stream("/codectest.RoundTrip/Legacy", request_serializer=ident,
                                                      response_deserializer=ident)
                with self.assertRaises(grpc.RpcError) as cm:
                    for r in m(iter([bytes.fromhex("0801"), bytes.fromhex(hexs)]), timeout=30):
                        got.append(r)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
                self.assertEqual(cm.exception.details(), want)
                self.assertEqual(got, [bytes.fromhex("0801")])   # the good one came back first

    def test_too_deep(self):
        def nested(n):
            b = b""
            for _ in range(n):
                b = b"\x12" + bytes([len(b)]) + b if len(b) < 128 else \
                    b"\x12" + bytes([len(b) & 0x7F | 0x80, len(b) >> 7]) + b
            return b
        got, code, details = self.call("/codectest.Echo/Tree", nested(100))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(got, nested(100))
        _, code, details = self.call("/codectest.Echo/Tree", nested(101))
        self.assertEqual(code, grpc.StatusCode.INTERNAL, details)
        self.assertTrue(details.startswith("request.child.child.child"), details)
        self.assertTrue(details.endswith(".child: " + DEEP), details)
        group = b"\xa3\x06" * 101 + b"\xa4\x06" * 101   # unknown groups count too
        _, code, details = self.call("/codectest.Echo/Echo", group)
        self.assertEqual((code, details), (grpc.StatusCode.INTERNAL, "request: " + DEEP))

    def test_client_stream(self):
        m = self.host.channel().stream_unary("/codectest.Echo/ClientStream", request_serializer=ident,
                                             response_deserializer=ident)
        good = types.AllTypes(f_int32=1).SerializeToString()
        with self.assertRaises(grpc.RpcError) as cm:
            m(iter([good, good, bytes.fromhex("4a01ff")]), timeout=30)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertEqual(cm.exception.details(), "request.f_string: invalid UTF-8")

    def test_grpc_decode(self):
        """grpc.decode's errors are the codec's, named after the type (RoundTrip/Recode)."""
        m = self.host.channel().stream_stream("/codectest.RoundTrip/Recode", request_serializer=ident,
                                              response_deserializer=ident)
        cases = {
            ("codectest.AllTypes", "4a01ff"): "grpc.decode: codectest.AllTypes.f_string: invalid UTF-8",
            ("codectest2.Legacy", ""): "grpc.decode: codectest2.Legacy.id: missing required field",
            ("codectest.Nope", ""): "grpc.decode: unknown message type 'codectest.Nope'",
            ("google.protobuf.Timestamp", "08"): "grpc.decode: google.protobuf.Timestamp.seconds: truncated varint",
        }
        reqs = [rt.Blob(type=t, data=bytes.fromhex(h)).SerializeToString() for t, h in cases]
        got = [rt.Blob.FromString(b) for b in m(iter(reqs), timeout=30)]
        self.assertEqual([b.error for b in got], list(cases.values()))

    def tearDown(self):
        super().tearDown()
        stub = types.EchoStub(self.host.channel())
        self.assertEqual(stub.Echo(types.AllTypes(f_int32=5), timeout=30).f_int32, 5)


if __name__ == "__main__":
    unittest.main()
