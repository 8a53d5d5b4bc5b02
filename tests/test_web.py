"""HTTP/1.1 beside gRPC: Connect (unary and server streaming, JSON and protobuf) and gRPC-Web
(binary and text) served from the same handlers, driven by plain HTTP (http.client, raw
sockets), curl, buf curl and @connectrpc/connect-node's transports; CORS preflights; bad input
of every kind; the gRPC port serving at the same time."""
import base64
import gzip
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import unittest

import grpc

from harness import (EXAMPLE_PROTOSET, SOURCE_DIR, TEST_PROTOSET, Host, HostTestCase, make_pki,
                     pb, rpc)
from web import install

ORIGIN = "https://app.example.com"
MAX_MESSAGE = 1 << 20
CLIENT_JS = os.path.join(SOURCE_DIR, "tests", "web", "client.js")

# A handler that fails with rich details, for the error mappings.
DETAILS_LUA = """
return {
  service = "hosttest.NoScript",
  Ping = function(req, call)
    grpc.error("NOT_FOUND", "no such thing", { grpc.any_pack("hosttest.Item", { seq = 7, tag = "t" }) })
  end,
}
"""

CONNECT_CODES = {
    "CANCELLED": ("canceled", 499), "UNKNOWN": ("unknown", 500),
    "INVALID_ARGUMENT": ("invalid_argument", 400), "DEADLINE_EXCEEDED": ("deadline_exceeded", 504),
    "NOT_FOUND": ("not_found", 404), "ALREADY_EXISTS": ("already_exists", 409),
    "PERMISSION_DENIED": ("permission_denied", 403), "RESOURCE_EXHAUSTED": ("resource_exhausted", 429),
    "FAILED_PRECONDITION": ("failed_precondition", 400), "ABORTED": ("aborted", 409),
    "OUT_OF_RANGE": ("out_of_range", 400), "UNIMPLEMENTED": ("unimplemented", 501),
    "INTERNAL": ("internal", 500), "UNAVAILABLE": ("unavailable", 503),
    "DATA_LOSS": ("data_loss", 500), "UNAUTHENTICATED": ("unauthenticated", 401),
}


def frame(message, flags=0):
    return struct.pack(">BI", flags, len(message)) + message


def unframe(body):
    """[(flags, bytes)] of a body of 5-byte-prefixed frames (Connect envelopes, gRPC-Web)."""
    out = []
    while body:
        flags, n = struct.unpack(">BI", body[:5])
        out.append((flags, body[5:5 + n]))
        body = body[5 + n:]
    return out


class WebTest(HostTestCase):
    host_options = dict(args=["--cors-origin", ORIGIN, "--max-message-bytes", str(MAX_MESSAGE)],
                        extra_scripts={"webdetails.lua": DETAILS_LUA})

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.web_port = cls.host.port     # one port: HTTP/1.1 beside gRPC

    # --- clients ---------------------------------------------------------------------------
    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=30)

    def post(self, path, body, content_type="application/json", headers=None, conn=None):
        """(status, headers dict, body bytes) of one POST; on conn when given (keep-alive)."""
        c = conn or self.conn()
        h = {"content-type": content_type}
        h.update(headers or {})
        c.request("POST", path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if conn is None:
            c.close()
        return r.status, hdrs, data

    def post_json(self, path, obj, **kw):
        status, headers, body = self.post(path, json.dumps(obj).encode(), **kw)
        return status, headers, json.loads(body) if body else None

    def raw(self, data, timeout=5):
        """Bytes a raw socket gets back for data, until the server closes (within timeout s)."""
        s = socket.create_connection(("127.0.0.1", self.web_port), timeout=timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
            return out
        finally:
            s.close()

    def raw_request(self, path, body, content_type, extra=""):
        return ("POST %s HTTP/1.1\r\nhost: x\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s"
                "connection: close\r\n\r\n" % (path, content_type, len(body), extra)).encode() + body

    # --- Connect unary -----------------------------------------------------------------------
    def test_curl_posts_json_to_greeter(self):
        mark = self.host.mark()
        r = subprocess.run(["curl", "-sS", "-H", "content-type: application/json", "-d", '{"name": "world"}',
                            "http://127.0.0.1:%d/helloworld.Greeter/SayHello" % self.web_port],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        self.assertEqual(json.loads(r.stdout), {"message": "Hello world"}, r.stdout)
        line = self.host.wait_log(lambda l: "msg=call" in l and "SayHello " in l + " ", start=mark)
        self.assertIn("protocol=connect", line)
        self.assertIn("peer=ipv4:127.0.0.1:", line)
        self.assertIn("status=OK", line)

    def test_connect_proto_unary(self):
        req = pb.hosttest.EchoRequest(text="bin", blob=b"\x00\xff", numbers=[1, 2])
        status, headers, body = self.post("/hosttest.Test/Echo", req.SerializeToString(), "application/proto")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/proto")
        self.assertEqual(pb.hosttest.EchoRequest.FromString(body), req)

    def test_json_mapping_both_ways(self):
        status, _, body = self.post_json("/hosttest.Test/Echo", {
            "text": "t", "blob": base64.b64encode(b"\x01\x02").decode(), "count": "12345678901",
            "numbers": [3], "labels": {"a": "b"}, "color": "GREEN", "item": {"seq": 4}})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"text": "t", "blob": "AQI=", "count": "12345678901", "numbers": [3],
                                "labels": {"a": "b"}, "color": "GREEN", "item": {"seq": "4"}})

    def test_every_code_maps_to_its_http_status(self):
        c = self.conn()
        for name, (connect, http_status) in sorted(CONNECT_CODES.items()):
            status, headers, body = self.post_json("/hosttest.Test/Fail", {"name": name, "message": "m " + name},
                                                   conn=c)
            self.assertEqual((status, body["code"], body["message"]), (http_status, connect, "m " + name))
            self.assertEqual(headers["content-type"], "application/json")
        c.close()

    def test_error_details(self):
        status, _, body = self.post_json("/hosttest.NoScript/Ping", {})
        self.assertEqual(status, 404)
        self.assertEqual(body["code"], "not_found")
        self.assertEqual(body["message"], "no such thing")
        self.assertEqual(len(body["details"]), 1)
        self.assertEqual(body["details"][0]["type"], "hosttest.Item")
        value = body["details"][0]["value"]
        item = pb.hosttest.Item.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))
        self.assertEqual((item.seq, item.tag), (7, "t"))

    def test_bad_json_names_the_field_path(self):
        status, _, body = self.post_json("/hosttest.Test/Echo", {"item": {"seq": "x"}})
        self.assertEqual((status, body["code"]), (400, "invalid_argument"))
        self.assertIn("request.item.seq", body["message"])
        status, _, body = self.post("/hosttest.Test/Echo", b'{"text": ')
        self.assertEqual(status, 400)
        self.assertIn("invalid_argument", body.decode())
        status, _, body = self.post_json("/hosttest.Test/Echo", {"nope": 1})
        self.assertEqual(status, 400)
        self.assertIn("nope", body["message"])

    def test_metadata_headers_and_trailers(self):
        status, headers, body = self.post_json(
            "/hosttest.Test/Metadata",
            {"header_key": "x-h", "header_value": base64.b64encode(b"hv").decode(),
             "trailer_key": "x-t-bin", "trailer_value": base64.b64encode(b"\x00\x01").decode()},
            headers={"x-plain": "p", "x-raw-bin": base64.b64encode(b"\xff\x00").decode(),
                     "x-fc-request-id": "rid-1"})
        self.assertEqual(status, 200, body)
        md = {k: base64.b64decode(v) for k, v in body["metadata"].items()}
        self.assertEqual(md["x-plain"], b"p")
        self.assertEqual(md["x-raw-bin"], b"\xff\x00")
        self.assertEqual(md["x-fc-request-id"], b"rid-1")
        self.assertNotIn("x-lua-host-door", md)
        self.assertNotIn("content-type", md)
        self.assertEqual(headers["x-h"], "hv")
        self.assertEqual(base64.b64decode(headers["trailer-x-t-bin"]), b"\x00\x01")

    def test_bad_base64_in_a_bin_header(self):
        status, _, body = self.post_json("/hosttest.Test/Metadata", {}, headers={"x-bad-bin": "!!!"})
        self.assertEqual((status, body["code"]), (400, "invalid_argument"))
        self.assertIn("x-bad-bin", body["message"])

    def test_connect_timeout_is_the_deadline(self):
        status, _, body = self.post_json("/hosttest.Test/Deadline", {}, headers={"connect-timeout-ms": "5000"})
        self.assertEqual(status, 200)
        self.assertTrue(body["hasDeadline"])
        self.assertTrue(0 < body["seconds"] < 5.1, body)   # gRPC rounds a timeout up
        status, _, body = self.post_json("/hosttest.Test/Sleep", {"seconds": 5}, headers={"connect-timeout-ms": "100"})
        self.assertEqual((status, body["code"]), (504, "deadline_exceeded"))
        status, _, body = self.post_json("/hosttest.Test/Deadline", {}, headers={"connect-timeout-ms": "soon"})
        self.assertEqual((status, body["code"]), (400, "invalid_argument"))

    def test_gzip_request_and_reply(self):
        text = "z" * 5000
        status, headers, body = self.post("/hosttest.Test/Echo", gzip.compress(json.dumps({"text": text}).encode()),
                                          headers={"content-encoding": "gzip", "accept-encoding": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-encoding"), "gzip")
        self.assertEqual(json.loads(gzip.decompress(body)), {"text": text})
        status, _, body = self.post("/hosttest.Test/Echo", b"not gzip", headers={"content-encoding": "gzip"})
        self.assertEqual(status, 400)
        self.assertIn("gzip", json.loads(body)["message"])
        status, _, body = self.post("/hosttest.Test/Echo", b"{}", headers={"content-encoding": "br"})
        self.assertEqual(status, 501)

    def test_gzip_bomb_is_bounded(self):
        bomb = gzip.compress(b'{"text": "' + b"a" * (MAX_MESSAGE * 4) + b'"}')
        self.assertLess(len(bomb), MAX_MESSAGE)
        status, _, body = self.post("/hosttest.Test/Echo", bomb, headers={"content-encoding": "gzip"})
        self.assertEqual(status, 429)
        self.assertIn("max-message-bytes", json.loads(body)["message"])

    def test_oversized_body_is_refused(self):
        body = b'{"text": "' + b"a" * (2 * MAX_MESSAGE) + b'"}'
        out = self.raw(self.raw_request("/hosttest.Test/Echo", body, "application/json"))
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:200])
        self.assertServing()

    # --- shapes of methods ----------------------------------------------------------------------
    def test_client_and_bidi_streaming_say_use_grpc(self):
        for path in ("/hosttest.Test/Sum", "/hosttest.Test/BidiEcho"):
            status, _, body = self.post_json(path, {})
            self.assertEqual((status, body["code"]), (501, "unimplemented"))
            self.assertIn("gRPC (HTTP/2)", body["message"])
        out = self.raw(self.raw_request("/hosttest.Test/Sum", frame(b""), "application/grpc-web+proto"))
        self.assertIn(b"grpc-status:12", out)

    def test_unary_content_type_on_a_streaming_method(self):
        status, _, body = self.post_json("/hosttest.Test/Range", {"count": 2})
        self.assertEqual(status, 501)
        self.assertIn("application/connect+json", body["message"])
        out = self.raw(self.raw_request("/hosttest.Test/Echo", frame(b"{}"), "application/connect+json"))
        self.assertIn(b"application/json or application/proto", out)

    def test_unknown_method_and_service(self):
        status, _, body = self.post_json("/hosttest.Test/Nope", {})
        self.assertEqual((status, body["code"]), (501, "unimplemented"))
        status, _, body = self.post_json("/no.Such/Thing", {})
        self.assertEqual(body["message"], "unknown service no.Such")

    # --- Connect streaming --------------------------------------------------------------------
    def test_connect_streaming(self):
        out = self.raw(self.raw_request("/hosttest.Test/Range", frame(b'{"count": 3}'), "application/connect+json"))
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertIn(b"HTTP/1.1 200", head)
        self.assertIn(b"application/connect+json", head)
        self.assertIn(b"transfer-encoding: chunked", head)
        frames = unframe(dechunk(body))
        self.assertEqual([json.loads(m)["seq"] for f, m in frames[:-1]], ["1", "2", "3"])
        self.assertEqual(frames[-1][0], 2)
        self.assertEqual(json.loads(frames[-1][1]), {"metadata": {}})

    def test_connect_streaming_error_ends_the_stream(self):
        out = self.raw(self.raw_request("/hosttest.Test/FailStream", frame(b'{"sends": 2, "name": "ABORTED", "message": "stop"}'),
                                        "application/connect+json"))
        frames = unframe(dechunk(out.partition(b"\r\n\r\n")[2]))
        self.assertEqual(len(frames), 3)
        end = json.loads(frames[-1][1])
        self.assertEqual(end["error"], {"code": "aborted", "message": "stop"})

    def test_connect_streaming_proto_and_bad_envelopes(self):
        req = pb.hosttest.RangeRequest(count=2).SerializeToString()
        out = self.raw(self.raw_request("/hosttest.Test/Range", frame(req), "application/connect+proto"))
        frames = unframe(dechunk(out.partition(b"\r\n\r\n")[2]))
        self.assertEqual([pb.hosttest.Item.FromString(m).seq for f, m in frames[:-1]], [1, 2])
        for bad in (b"\x00\x00", frame(req)[:-1], frame(req, flags=4)):
            out = self.raw(self.raw_request("/hosttest.Test/Range", bad, "application/connect+proto"))
            end = json.loads(unframe(dechunk(out.partition(b"\r\n\r\n")[2]))[-1][1])
            self.assertEqual(end["error"]["code"], "invalid_argument", out)

    # --- gRPC-Web ---------------------------------------------------------------------------
    def grpc_web_frames(self, path, message, text=False, extra=""):
        """The reply's head, its message frames as (flags, bytes), and its trailers."""
        body = frame(message)
        ct = "application/grpc-web-text" if text else "application/grpc-web+proto"
        out = self.raw(self.raw_request(path, base64.b64encode(body) if text else body, ct, extra))
        head, _, body = out.partition(b"\r\n\r\n")
        body = dechunk(body)
        if text:
            body = b"".join(base64.b64decode(body[i:i + 4]) for i in range(0, len(body), 4))
        frames = unframe(body)
        trailers = dict(l.split(":", 1) for l in frames[-1][1].decode().split("\r\n") if l)
        self.assertEqual(frames[-1][0], 0x80)
        return head, frames[:-1], trailers

    def grpc_web(self, path, message, text=False, extra=""):
        head, frames, trailers = self.grpc_web_frames(path, message, text, extra)
        return head, [m for f, m in frames], trailers

    def test_grpc_web_gzip_replies(self):
        text = "compress me " * 200                 # past --compress-min-bytes (1024)
        req = pb.hosttest.EchoRequest(text=text).SerializeToString()
        for as_text in (False, True):
            head, frames, trailers = self.grpc_web_frames("/hosttest.Test/Echo", req, as_text,
                                                          extra="grpc-accept-encoding: identity, gzip\r\n")
            self.assertIn(b"grpc-encoding: gzip", head)
            self.assertEqual(frames[0][0], 0x01)
            self.assertLess(len(frames[0][1]), len(req))
            self.assertEqual(pb.hosttest.EchoRequest.FromString(gzip.decompress(frames[0][1])).text, text)
            self.assertEqual(trailers["grpc-status"], "0")
        head, frames, _ = self.grpc_web_frames("/hosttest.Test/Echo", req)
        self.assertNotIn(b"grpc-encoding", head)
        self.assertEqual(frames[0][0], 0)

    def test_grpc_web_binary_and_text(self):
        for text in (False, True):
            head, msgs, trailers = self.grpc_web("/hosttest.Test/Range", pb.hosttest.RangeRequest(count=3).SerializeToString(), text)
            self.assertIn(b"200 OK", head)
            self.assertIn(b"application/grpc-web-text+proto" if text else b"application/grpc-web+proto", head)
            self.assertEqual([pb.hosttest.Item.FromString(m).seq for m in msgs], [1, 2, 3])
            self.assertEqual(trailers["grpc-status"], "0")

    def test_grpc_web_errors_in_trailers(self):
        req = pb.hosttest.FailRequest(name="NOT_FOUND", message="gone 100%", sends=1).SerializeToString()
        _, msgs, trailers = self.grpc_web("/hosttest.Test/FailStream", req)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(trailers["grpc-status"], "5")
        self.assertEqual(trailers["grpc-message"], "gone 100%25")
        _, _, trailers = self.grpc_web("/hosttest.NoScript/Ping", b"")
        self.assertEqual(trailers["grpc-status"], "5")
        details = base64.b64decode(trailers["grpc-status-details-bin"])
        self.assertIn(b"type.googleapis.com/hosttest.Item", details)

    def test_grpc_web_timeout_and_bad_text(self):
        _, _, trailers = self.grpc_web("/hosttest.Test/Sleep", pb.hosttest.SleepRequest(seconds=5).SerializeToString(),
                                       extra="grpc-timeout: 100m\r\n")
        self.assertEqual(trailers["grpc-status"], "4")
        out = self.raw(self.raw_request("/hosttest.Test/Echo", b"%%%notbase64", "application/grpc-web-text"))
        frames = unframe(base64.b64decode(dechunk(out.partition(b"\r\n\r\n")[2])))
        self.assertEqual(frames[0][0], 0x80)
        self.assertIn(b"grpc-status:3", frames[0][1])

    # --- the protocol, the peer, and what a client cannot forge ---------------------------------
    def test_handlers_see_the_protocol_and_the_http_client(self):
        status, _, body = self.post_json("/hosttest.Test/Info", {}, headers={"x-lua-host-door": "grpc-web json ipv4:6.6.6.6:1"})
        self.assertEqual(body["protocol"], "connect")
        self.assertTrue(body["peer"].startswith("ipv4:127.0.0.1:"), body)
        _, msgs, _ = self.grpc_web("/hosttest.Test/Info", b"")
        self.assertEqual(pb.hosttest.InfoReply.FromString(msgs[0]).protocol, "grpc-web")
        stub = self.host.test_stub()
        resp, code, _, _ = rpc(stub.Info, pb.hosttest.Empty(),
                               metadata=[("x-lua-host-door", "connect json ipv4:6.6.6.6:1")])
        self.assertEqual(code, grpc.StatusCode.OK)
        self.assertEqual(resp.protocol, "grpc")
        self.assertNotIn("6.6.6.6", resp.peer)
        resp, _, _, _ = rpc(stub.Metadata, pb.hosttest.MetadataRequest(),
                            metadata=[("x-lua-host-door", "connect json ipv4:6.6.6.6:1")])
        self.assertNotIn("x-lua-host-door", resp.metadata)

    # --- HTTP itself ------------------------------------------------------------------------------
    def test_keep_alive(self):
        c = self.conn()
        for i in range(20):
            status, _, body = self.post_json("/helloworld.Greeter/SayHello", {"name": str(i)}, conn=c)
            self.assertEqual(body, {"message": "Hello %d" % i})
        c.close()

    def test_pipelined_requests_are_refused_after_the_first(self):
        one = ("POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               "content-length: 2\r\n\r\n{}").encode()
        out = self.raw(one + one)
        self.assertEqual(out.count(b"HTTP/1.1 200"), 1, out)
        self.assertIn(b"connection: close", out)

    def test_malformed_http(self):
        for junk, status in ((b"HELLO THERE\r\n\r\n", b"400"), (b"\x16\x03\x01\x00\xa5\x01\x00", b"400"),
                             (b"POST / HTTP/1.1\r\ncontent-length: -1\r\n\r\n", b"400")):
            out = self.raw(junk)
            self.assertTrue(out.startswith(b"HTTP/1.1 " + status), (junk, out))
        many = "".join("x-h%d: v\r\n" % i for i in range(150))
        out = self.raw(("POST /a.B/C HTTP/1.1\r\n%s\r\n" % many).encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 431"), out[:100])
        out = self.raw(("POST /a.B/C HTTP/1.1\r\nx-big: %s\r\n\r\n" % ("v" * 20000)).encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 431"), out[:100])
        self.assertServing()

    def test_wrong_method_type_and_path(self):
        c = self.conn()
        c.request("GET", "/helloworld.Greeter/SayHello")
        r = c.getresponse()
        self.assertEqual(r.status, 405)
        r.read()
        for ct, want in (("text/plain", 415), ("application/grpc", 415)):
            status, _, body = self.post("/helloworld.Greeter/SayHello", b"{}", ct, conn=c)
            self.assertEqual(status, want)
        self.assertIn(b"HTTP/2", body)
        status, _, _ = self.post("/not-a-method", b"{}", conn=c)
        self.assertEqual(status, 404)
        status, _, _ = self.post("/helloworld.Greeter/SayHello", b"{}", conn=c)   # still usable
        self.assertEqual(status, 200)
        c.close()

    def test_slow_client_gets_408(self):
        out = self.raw(b"POST /helloworld.Greeter/SayHello HTTP/1.1\r\nhost: x\r\n", timeout=30)
        self.assertTrue(out.startswith(b"HTTP/1.1 408"), out)

    def test_client_gone_cancels_the_call(self):
        mark = self.host.mark()
        s = socket.create_connection(("127.0.0.1", self.web_port), timeout=10)
        s.sendall(self.raw_request("/hosttest.Test/Forever", frame(b'{"tag": "web-gone"}'), "application/connect+json"))
        self.assertIn(b"200 OK", s.recv(4096))
        s.close()
        # A call's line is written once its handler has ended. (Stopped would answer for one
        # worker's state only: this host has two.)
        self.host.wait_log(lambda l: "method=/hosttest.Test/Forever" in l and "status=CANCELLED" in l, start=mark,
                           what="the cancelled call's line")

    # --- CORS ----------------------------------------------------------------------------------
    def test_preflight_and_cors_headers(self):
        c = self.conn()
        c.request("OPTIONS", "/helloworld.Greeter/SayHello", headers={
            "origin": ORIGIN, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,connect-protocol-version,x-grpc-web"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 204)
        self.assertEqual(r.getheader("access-control-allow-origin"), ORIGIN)
        self.assertEqual(r.getheader("access-control-allow-methods"), "POST")
        self.assertIn("x-grpc-web", r.getheader("access-control-allow-headers"))
        status, headers, _ = self.post("/hosttest.Test/Metadata", b'{"header_key": "x-mine"}',
                                       headers={"origin": ORIGIN}, conn=c)
        self.assertEqual(headers["access-control-allow-origin"], ORIGIN)
        exposed = headers["access-control-expose-headers"]
        for name in ("grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-encoding", "x-mine"):
            self.assertIn(name, exposed)
        c.request("OPTIONS", "/helloworld.Greeter/SayHello", headers={
            "origin": "https://evil.example", "access-control-request-method": "POST"})
        r = c.getresponse()
        r.read()
        self.assertIsNone(r.getheader("access-control-allow-origin"))
        c.close()

    # --- gRPC on its port at the same time ------------------------------------------------------
    def test_grpc_and_http_at_the_same_time(self):
        stub = self.host.greeter_stub()
        errors = []

        def grpc_calls():
            for i in range(50):
                resp, code, details, _ = rpc(stub.SayHello, pb.helloworld.HelloRequest(name="g%d" % i))
                if code != grpc.StatusCode.OK or resp.message != "Hello g%d" % i:
                    errors.append((code, details))

        def http_calls():
            c = self.conn()
            for i in range(50):
                status, _, body = self.post_json("/helloworld.Greeter/SayHello", {"name": "h%d" % i}, conn=c)
                if body != {"message": "Hello h%d" % i}:
                    errors.append((status, body))
            c.close()

        threads = [threading.Thread(target=f) for f in (grpc_calls, http_calls, grpc_calls, http_calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])

    def test_routeguide(self):
        status, _, body = self.post_json("/routeguide.RouteGuide/GetFeature",
                                         {"latitude": 409146138, "longitude": -746188906})
        self.assertEqual(status, 200, body)
        self.assertIn("name", body)
        out = self.raw(self.raw_request("/routeguide.RouteGuide/ListFeatures", frame(json.dumps(
            {"lo": {"latitude": 400000000, "longitude": -750000000},
             "hi": {"latitude": 420000000, "longitude": -730000000}}).encode()), "application/connect+json"))
        frames = unframe(dechunk(out.partition(b"\r\n\r\n")[2]))
        self.assertGreater(len(frames), 2)
        self.assertNotIn("error", json.loads(frames[-1][1]))

    # --- real clients from npm -------------------------------------------------------------------
    def node_modules(self):
        try:
            modules = install.npm_clients()
        except install.InstallFailed as e:
            self.fail(str(e))
        if modules is None:
            self.skipTest("node or npm not installed")
        return modules

    def buf_curl(self, protocol, path, data):
        modules = self.node_modules()
        r = subprocess.run([os.path.join(modules, ".bin", "buf"), "curl", "--protocol", protocol,
                            "--schema", EXAMPLE_PROTOSET + "#format=binpb", "--schema", TEST_PROTOSET + "#format=binpb",
                            "-d", data, "http://127.0.0.1:%d/%s" % (self.web_port, path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        return r

    def test_buf_curl_connect_and_grpcweb(self):
        for protocol in ("connect", "grpcweb"):
            r = self.buf_curl(protocol, "helloworld.Greeter/SayHello", '{"name": "buf"}')
            self.assertEqual(json.loads(r.stdout), {"message": "Hello buf"}, r.stderr)
            r = self.buf_curl(protocol, "helloworld.Greeter/SayHelloStreamReply", '{"name": "s"}')
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.count("Hello s #"), 3, r.stdout)
            r = self.buf_curl(protocol, "hosttest.Test/Fail", '{"name": "PERMISSION_DENIED", "message": "no"}')
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("permission_denied", r.stderr)

    def node_call(self, protocol, fmt, path, request, *extra):
        modules = self.node_modules()
        env = dict(os.environ, NODE_PATH=modules)
        r = subprocess.run(["node", CLIENT_JS, TEST_PROTOSET, "http://127.0.0.1:%d" % self.web_port, protocol, fmt,
                            path, json.dumps(request)] + list(extra),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines()]

    def test_connect_node_transports(self):
        for protocol, fmt in (("connect", "json"), ("connect", "binary"), ("grpcweb", "binary"), ("grpcweb", "json")):
            lines = self.node_call(protocol, fmt, "hosttest.Test/Range", {"count": 3})
            self.assertEqual([l["reply"]["seq"] for l in lines[:-1]], ["1", "2", "3"], (protocol, fmt))
            lines = self.node_call(protocol, fmt, "hosttest.Test/Metadata",
                                   {"header_key": "x-h", "header_value": "aGk=", "trailer_key": "x-t", "trailer_value": "dA=="},
                                   "--header", "x-from=node")
            self.assertEqual(base64.b64decode(lines[0]["reply"]["metadata"]["x-from"]), b"node")
            self.assertEqual(lines[1]["headers"]["x-h"], "hi")
            self.assertEqual(lines[1]["trailers"]["x-t"], "t")
            lines = self.node_call(protocol, fmt, "hosttest.NoScript/Ping", {})
            self.assertEqual(lines[0]["error"]["code"], "NotFound", (protocol, fmt))
            self.assertEqual(lines[0]["error"]["message"], "no such thing")
            self.assertEqual(lines[0]["error"]["details"], ["hosttest.Item"])
            lines = self.node_call(protocol, fmt, "hosttest.Test/Sleep", {"seconds": 5}, "--timeout-ms", "100")
            self.assertEqual(lines[0]["error"]["code"], "DeadlineExceeded")


# SayHello that spends `name` ms of CPU and answers with a name of its worker's Lua state.
WHICH_WORKER_LUA = """
local me = tostring({})
return {
  service = "helloworld.Greeter",
  SayHello = function(req)
    local busy_until = os.clock() + (tonumber(req.name) or 0) / 1000
    while os.clock() < busy_until do end
    return { message = me }
  end,
}
"""


class WorkersTest(unittest.TestCase):
    """The door's calls share a loopback connection, which gRPC 1.51 gives, like every
    connection handed over by its descriptor, to one worker picked at random; a call goes to
    another worker when that one has no request slot left, its handlers busy. So under load
    the door's calls reach every worker, as a gRPC client's calls on one connection do."""

    def test_door_calls_reach_both_workers(self):
        scripts = tempfile.mkdtemp(prefix="web-workers-")
        self.addCleanup(shutil.rmtree, scripts, True)
        with open(os.path.join(scripts, "greeter.lua"), "w") as f:
            f.write(WHICH_WORKER_LUA)
        with Host(scripts=scripts, workers=2) as host:
            workers, lock = set(), threading.Lock()

            def client():
                c = http.client.HTTPConnection("127.0.0.1", host.port, timeout=30)
                for _ in range(20):
                    c.request("POST", "/helloworld.Greeter/SayHello", body=b'{"name": "5"}',
                              headers={"content-type": "application/json"})
                    message = json.loads(c.getresponse().read())["message"]
                    with lock:
                        workers.add(message)
                c.close()

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            self.assertEqual(len(workers), 2, workers)


class TlsTest(unittest.TestCase):
    """With TLS gRPC owns the port: HTTP/1.1 is not served, and the host says so once."""

    def test_tls_port_says_http1_is_not_served(self):
        pki = tempfile.mkdtemp(prefix="web-tls-")
        self.addCleanup(shutil.rmtree, pki, True)
        p = make_pki(pki)
        with Host(workers=1, args=["--tls-cert", p.cert, "--tls-key", p.key]) as host:
            lines = [l for l in host.output().splitlines() if "HTTP/1.1 clients are not served with TLS" in l]
            self.assertEqual(len(lines), 1, host.output())
            self.assertIn("h2c", lines[0])


def dechunk(body):
    """The payload of a chunked body."""
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    return out


if __name__ == "__main__":
    unittest.main()
