"""The codec's functions for scripts: grpc.encode, grpc.decode, grpc.any_pack, grpc.any_unpack,
grpc.timestamp, grpc.duration, grpc.seconds. The checks are written in Lua
(tests/scripts/codectest_rt.lua, RoundTrip/Check); what they build comes back here and is
checked with python3-protobuf."""

import unittest

import grpc
from google.protobuf import any_pb2, duration_pb2, struct_pb2, timestamp_pb2, wrappers_pb2

from harness import HostTestCase, rpc
from codecstubs import rt, types, wellknown



class ScriptCodecTest(HostTestCase):
    def check(self, name, **kw):
        stub = rt.RoundTripStub(self.host.channel())
        resp, code, details, _ = rpc(stub.Check, rt.CheckRequest(name=name, **kw))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(list(resp.failures), [], "Lua checks of group %r failed" % name)
        self.assertGreater(resp.passed, 5)
        return resp

    def test_encode_decode(self):
        resp = self.check("codec")
        self.assertGreater(resp.passed, 230)

    def test_any(self):
        w = wellknown.WellKnown()
        w.any.Pack(types.AllTypes(f_string="from python", r_int64=[1, -1]))
        resp = self.check("any", wkt=w)
        node = types.Node()
        self.assertEqual(resp.out.wkt.any.type_url, "type.googleapis.com/codectest.Node")
        self.assertTrue(resp.out.wkt.any.Unpack(node))
        self.assertEqual(node, types.Node(name="from lua", children=[types.Node(name="c")]))

    def test_timestamp_duration(self):
        w = wellknown.WellKnown()
        w.ts.FromNanoseconds(1234567890_500000000)
        w.dur.FromNanoseconds(-3_250000000)
        resp = self.check("time", wkt=w)
        out = resp.out.wkt
        self.assertEqual(out.ts.ToNanoseconds(), 1700000000_125000000)
        self.assertEqual(out.ts.ToJsonString(), "2023-11-14T22:13:20.125Z")
        self.assertEqual(out.dur.ToNanoseconds(), -90_500000000)
        self.assertEqual(out.dur.ToJsonString(), "-90.500s")   # valid: nanos take the sign of seconds
        self.assertEqual([s.ToNanoseconds() for s in out.stamps], [0, -1_750000000])
        self.assertEqual(out.stamps[1].seconds, -2)
        self.assertEqual(out.stamps[1].nanos, 250000000)

    def test_wellknown_built_in_lua(self):
        out = self.check("wkt").out.wkt
        st = dict(out.st)
        self.assertEqual(st["n"], 1.5)
        self.assertEqual(st["s"], "x")
        self.assertIs(st["b"], True)
        self.assertIsNone(st["z"])
        self.assertEqual(list(st["l"]), [1.0, "y"])
        self.assertEqual(dict(st["o"]), {"k": False})
        self.assertEqual(out.val.string_value, "v")
        self.assertEqual(out.list.values[0].WhichOneof("kind"), "null_value")
        self.assertTrue(out.HasField("empty"))
        self.assertEqual(list(out.mask.paths), ["a.b", "c"])
        self.assertEqual(out.mask.ToJsonString(), "a.b,c")
        self.assertEqual((out.w_double.value, out.w_float.value, out.w_int64.value, out.w_uint64.value),
                         (0.5, -1.0, -2 ** 63, 2 ** 64 - 1))
        self.assertEqual((out.w_int32.value, out.w_uint32.value, out.w_bool.value, out.w_string.value,
                          out.w_bytes.value), (-5, 2 ** 32 - 1, True, "é", b"\0"))
        self.assertEqual(out.values["a"].number_value, 2)

    def test_unknown_group(self):
        stub = rt.RoundTripStub(self.host.channel())
        _, code, details, _ = rpc(stub.Check, rt.CheckRequest(name="nope"))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, details)


if __name__ == "__main__":
    unittest.main()
