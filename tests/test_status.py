"""Status codes: grpc.error by number and by name, Lua runtime errors, UNIMPLEMENTED."""

import unittest

import grpc

from harness import HOSTTEST_LUA, HostTestCase, marked_line, pb, rpc

# The 17 gRPC codes by name and number.
CODES = {c.name: c.value[0] for c in grpc.StatusCode}
BY_NUMBER = {c.value[0]: c for c in grpc.StatusCode}


def ident(x):
    return x


class StatusTest(HostTestCase):
    def setUp(self):
        self.stub = self.host.test_stub()

    def test_error_by_number(self):
        for num in range(1, 17):
            msg = "failed with %d" % num
            _, code, details, _ = rpc(self.stub.Fail, pb.hosttest.FailRequest(code=num, message=msg))
            self.assertEqual(code, BY_NUMBER[num])
            self.assertEqual(details, msg)

    def test_error_by_name(self):
        for name, num in CODES.items():
            if num == 0:
                continue
            msg = "failed as " + name
            _, code, details, _ = rpc(self.stub.Fail, pb.hosttest.FailRequest(name=name, message=msg))
            self.assertEqual(code, BY_NUMBER[num], name)
            self.assertEqual(details, msg)

    def test_error_message_not_ascii(self):
        msg = "naïve ✓ 100% done\tπ"
        _, code, details, _ = rpc(self.stub.Fail, pb.hosttest.FailRequest(name="ABORTED", message=msg))
        self.assertEqual(code, grpc.StatusCode.ABORTED)
        self.assertEqual(details, msg)

    def test_error_unknown_name_is_not_ok(self):
        _, code, details, _ = rpc(self.stub.Fail, pb.hosttest.FailRequest(name="NO_SUCH_CODE", message="x"))
        self.assertNotEqual(code, grpc.StatusCode.OK)
        self.assertServing(self.stub)

    def test_status_table(self):
        resp, code, details, _ = rpc(self.stub.Codes, pb.hosttest.Empty())
        self.assertEqual(code, grpc.StatusCode.OK, details)
        for name, num in CODES.items():
            self.assertEqual(resp.codes.get(name), num, name)

    def test_error_after_streamed_messages(self):
        call = self.stub.FailStream(
            pb.hosttest.FailRequest(name="NOT_FOUND", message="gone", sends=3), timeout=30)
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for item in call:
                got.append(item.seq)
        self.assertEqual(got, [1, 2, 3])
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(cm.exception.details(), "gone")

    def test_lua_runtime_error(self):
        line = marked_line(HOSTTEST_LUA, "lua-error")
        where = "hosttest.lua:%d" % line
        mark = self.host.mark()
        _, code, details, _ = rpc(self.stub.LuaError, pb.hosttest.Empty())
        self.assertEqual(code, grpc.StatusCode.UNKNOWN)
        self.assertIn(where, details)
        self.assertIn("nil value", details)
        logged = self.host.wait_log(lambda l: where in l, start=mark, timeout=10,
                                    what="an error log line naming " + where)
        self.assertIn("level=error", logged)
        self.assertIn("/hosttest.Test/LuaError", logged)
        self.assertServing(self.stub)

    def _raw(self, path, request=b"", streaming=False):
        ch = self.host.channel()
        if streaming:
            method = ch.stream_stream(path, request_serializer=ident, response_deserializer=ident)
            try:
                list(method(iter([request]), timeout=30))
            except grpc.RpcError as e:
                return e.code(), e.details()
            return grpc.StatusCode.OK, ""
        method = ch.unary_unary(path, request_serializer=ident, response_deserializer=ident)
        try:
            method(request, timeout=30)
        except grpc.RpcError as e:
            return e.code(), e.details()
        return grpc.StatusCode.OK, ""

    def test_unknown_method(self):
        code, details = self._raw("/hosttest.Test/NoSuchMethod")
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)
        code, details = self._raw("/hosttest.Test/NoSuchMethod", streaming=True)
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)
        code, details = self._raw("/helloworld.Greeter/SayGoodbye")
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)

    def test_unknown_service(self):
        code, details = self._raw("/nosuch.Service/Method")
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)
        code, details = self._raw("/nosuch.Service/Method", streaming=True)
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)
        code, details = self._raw("/not-even-a-path")
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)
        self.assertServing(self.stub)

    def test_method_without_function(self):
        _, code, details, _ = rpc(self.stub.NotInScript, pb.hosttest.Empty())
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)

    def test_service_without_script(self):
        stub = pb.hosttest_grpc.NoScriptStub(self.host.channel())
        _, code, details, _ = rpc(stub.Ping, pb.hosttest.Empty())
        self.assertEqual(code, grpc.StatusCode.UNIMPLEMENTED, details)
        self.assertServing(self.stub)


if __name__ == "__main__":
    unittest.main()
