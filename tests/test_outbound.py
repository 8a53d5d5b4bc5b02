"""Outbound gRPC from handlers (grpc.client): tests/scripts/proxy.lua in one host calls a backend,
which is the host itself (hosttest.Test), a Python grpcio server, or a TLS server."""

import concurrent.futures
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import unittest

import grpc

from harness import SANITIZED, Host, load_stubs, load_stubs_as, make_pki, pb, rpc, wait_until, \
    SOURCE_DIR

ob = load_stubs("outbound.proto")
test = pb.hosttest
Item = test.Item

# Both ends take many streams at once (the concurrency test) and run one worker: a test's
# record of stopped handlers (hosttest.Stopped) lives in one Lua state.
MANY_STREAMS = ["--max-streams", "1000"]


def backend_md(target, **extra):
    md = [("x-backend", target)]
    md += [("x-" + k.replace("_", "-"), v) for k, v in extra.items()]
    return tuple(md)


class Stops:
    """What the backend host's stoppable handlers recorded under a tag."""

    def __init__(self, host):
        self.stub = host.test_stub()

    def __call__(self, tag):
        return self.stub.Stopped(test.StopRequest(tag=tag), timeout=10)

    def wait(self, tag, field, n=1):
        """The report, once its field has reached n."""
        def reached():
            report = self(tag)
            return report if getattr(report, field) >= n else None
        return wait_until(reached, 10, what="%s %s >= %d" % (tag, field, n))


class HostBackendTest(unittest.TestCase):
    """The proxy in front of another host: every kind of call, metadata, errors, deadlines."""

    @classmethod
    def setUpClass(cls):
        cls.backend = Host(workers=1, args=MANY_STREAMS).__enter__()
        cls.proxy = Host(workers=1, args=MANY_STREAMS).__enter__()
        cls.stub = ob.ProxyStub(cls.proxy.channel())
        cls.md = backend_md(cls.backend.target)
        cls.stops = Stops(cls.backend)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.backend.__exit__(None, None, None)

    def probe(self, mode, target=None, tag="", md=None):
        resp, code, details, _ = rpc(self.stub.Probe, ob.ProbeRequest(
            mode=mode, target=target or self.backend.target, tag=tag), metadata=md or self.md)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        return resp

    def test_unary(self):
        req = test.EchoRequest(text="wörld", blob=b"\x00\xff", count=-(1 << 62), numbers=[1, -2, 3],
                               labels={"a": "b"}, color=test.GREEN, item=Item(seq=7, tag="t"))
        resp, code, details, _ = rpc(self.stub.Echo, req, metadata=self.md)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp, req)

    def test_server_streaming(self):
        items = list(self.stub.Range(test.RangeRequest(count=300, payload=b"p" * 100), metadata=self.md,
                                     timeout=30))
        self.assertEqual([i.seq for i in items], list(range(1, 301)))
        self.assertTrue(all(i.payload == b"p" * 100 for i in items))

    def test_client_streaming(self):
        reply = self.stub.Sum(iter([Item(seq=i) for i in range(1, 1001)]), metadata=self.md, timeout=30)
        self.assertEqual((reply.sum, reply.count), (500500, 1000))

    def test_bidi(self):
        items = [Item(seq=i, tag="b%d" % i) for i in range(200)]
        got = list(self.stub.BidiEcho(iter(items), metadata=self.md, timeout=30))
        self.assertEqual(got, items)

    def test_metadata_both_ways(self):
        req = test.MetadataRequest(header_key="x-h", header_value=b"hv", trailer_key="x-t",
                                   trailer_value=b"tv")
        resp, code, details, trailers = rpc(self.stub.Metadata, req, metadata=self.md)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.metadata["x-forwarded-by"], b"proxy")   # the client's default
        self.assertEqual(resp.metadata["x-from-proxy"], b"yes")       # the call's own
        self.assertNotIn("x-backend", resp.metadata)                  # nothing else is forwarded
        self.assertEqual(trailers["backend-h-h"], "hv")               # the backend's header
        self.assertEqual(trailers["backend-t-t"], "tv")               # and trailer

    def test_trace_context_is_forwarded(self):
        parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        md = self.md + (("traceparent", parent), ("tracestate", "vendor=x"))
        resp, code, details, _ = rpc(self.stub.Metadata, test.MetadataRequest(), metadata=md)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.metadata["traceparent"], parent.encode())
        self.assertEqual(resp.metadata["tracestate"], b"vendor=x")

    def test_a_status_passes_through(self):
        mark = self.proxy.mark()
        resp, code, details, _ = rpc(self.stub.Fail, test.FailRequest(name="NOT_FOUND", message="no item 7"),
                                     metadata=self.md)
        self.assertEqual((code, details), (grpc.StatusCode.NOT_FOUND, "no item 7"))
        line = self.proxy.wait_log("outbound call failed", start=mark)
        self.assertIn("target=" + self.backend.target, line)
        self.assertIn("outbound_method=/hosttest.Test/Fail", line)

    def test_the_deadline_reaches_the_backend(self):
        started = time.monotonic()
        _, code, _, _ = rpc(self.stub.Sleep, test.SleepRequest(seconds=30, tag="deadline"),
                            metadata=self.md, timeout=0.5)
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertLess(time.monotonic() - started, 10)
        report = self.stops.wait("deadline", "stopped")
        self.assertEqual(report.finished, 0)

    def test_its_own_timeout_when_smaller(self):
        md = self.md + (("x-timeout", "0.3"),)
        _, code, details, _ = rpc(self.stub.Sleep, test.SleepRequest(seconds=30, tag="own-timeout"),
                                  metadata=md, timeout=30)
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED, details)
        self.stops.wait("own-timeout", "stopped")

    def test_a_cancel_reaches_the_backend(self):
        future = self.stub.Sleep.future(test.SleepRequest(seconds=60, tag="cancel"), metadata=self.md,
                                        timeout=60)
        self.stops.wait("cancel", "started")
        future.cancel()
        self.stops.wait("cancel", "stopped")
        self.assertEqual(self.stops("cancel").finished, 0)

    def test_a_stream_left_open_is_cancelled_when_the_handler_ends(self):
        self.assertTrue(self.probe("abandon", tag="abandoned").ok)
        self.stops.wait("abandoned", "stopped")

    def test_misuse_names_the_target(self):
        target = self.backend.target
        cases = {
            "unknown_method": "client:call %s: unknown method 'hosttest.Test/NoSuchMethod'" % target,
            "wrong_kind": "/hosttest.Test/Range is server streaming: use client:stream",
            "wrong_kind_stream": "/hosttest.Test/Echo is unary: use client:call",
            "bad_request": "client:call %s /hosttest.Test/Echo: request.count: expected integer, got string"
                           % target,
            "not_a_table": "request: expected a table (hosttest.EchoRequest), got number",
            "bad_metadata": "metadata key 'Bad Key' is not a legal key",
            "bad_timeout": "option timeout must be a number of seconds above 0",
            "send_after_close": "the stream is closed for sending",
        }
        for mode, text in cases.items():
            with self.subTest(mode=mode):
                r = self.probe(mode)
                self.assertFalse(r.ok)
                self.assertIn(text, r.message)

    def test_a_cancelled_stream_raises_cancelled(self):
        r = self.probe("stream_cancel")
        self.assertEqual(r.code, grpc.StatusCode.CANCELLED.value[0])
        self.assertEqual((r.target, r.method), (self.backend.target, "/hosttest.Test/BidiEcho"))

    def test_a_refused_connection(self):
        r = self.probe("call", target="127.0.0.1:1")
        self.assertEqual(r.code, grpc.StatusCode.UNAVAILABLE.value[0])
        self.assertIn("127.0.0.1:1", r.text)
        self.assertEqual(r.target, "127.0.0.1:1")

    def test_a_target_that_never_answers(self):
        with socket.socket() as silent:   # accepts connections (the backlog) and never speaks
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            target = "127.0.0.1:%d" % silent.getsockname()[1]
            r = self.probe("call_short", target=target)
        self.assertEqual(r.code, grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
        self.assertIn(target, r.text)

    def test_a_name_that_does_not_resolve(self):
        r = self.probe("call_short", target="dns:///no-such-host.invalid:443")
        self.assertIn(r.code, (grpc.StatusCode.UNAVAILABLE.value[0], grpc.StatusCode.DEADLINE_EXCEEDED.value[0]))
        self.assertIn("no-such-host.invalid", r.text)

    def test_the_host_keeps_serving(self):
        resp, code, details, _ = rpc(self.stub.Echo, test.EchoRequest(text="after"), metadata=self.md)
        self.assertEqual((code, resp.text), (grpc.StatusCode.OK, "after"), details)


class ConcurrencyTest(unittest.TestCase):
    """Waiting outbound calls hold no worker: 500 of them on one worker overlap."""

    def test_500_outbound_calls_at_once_on_one_worker(self):
        with Host(workers=1, args=MANY_STREAMS) as backend, Host(workers=1, args=MANY_STREAMS) as proxy:
            stub = ob.ProxyStub(proxy.channel())
            md = backend_md(backend.target)
            started = time.monotonic()
            futures = [stub.Sleep.future(test.SleepRequest(seconds=1.0), metadata=md, timeout=60)
                       for _ in range(500)]
            replies = [f.result() for f in futures]
            elapsed = time.monotonic() - started
            print("500 outbound calls of 1 s each, one worker: %.2f s" % elapsed)
            self.assertTrue(all(r.slept >= 0.99 for r in replies))
            # Served one after the other they would take 500 s; the bound leaves room for ASan.
            self.assertLess(elapsed, 10 if SANITIZED else 5)


class LimitsAndLifecycleTest(unittest.TestCase):
    def test_max_outbound(self):
        with Host(workers=1) as backend, Host(workers=1, args=["--max-outbound", "2"]) as proxy:
            stub = ob.ProxyStub(proxy.channel())
            md = backend_md(backend.target)
            stops = Stops(backend)
            slow = [stub.Sleep.future(test.SleepRequest(seconds=1, tag="held"), metadata=md, timeout=30)
                    for _ in range(2)]
            stops.wait("held", "started", 2)
            _, code, details, _ = rpc(stub.Echo, test.EchoRequest(text="third"), metadata=md)
            self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertIn("--max-outbound", details)
            self.assertTrue(all(f.result().slept >= 0.99 for f in slow))
            resp, code, details, _ = rpc(stub.Echo, test.EchoRequest(text="again"), metadata=md)
            self.assertEqual((code, resp.text), (grpc.StatusCode.OK, "again"), details)

    def test_outbound_restricts_targets(self):
        with Host(workers=1) as backend:
            allowed = "localhost,127.0.0.1:%d" % backend.port
            with Host(workers=1, args=["--outbound", allowed]) as proxy:
                stub = ob.ProxyStub(proxy.channel())
                resp, code, details, _ = rpc(stub.Echo, test.EchoRequest(text="in"),
                                             metadata=backend_md("dns:///127.0.0.1:%d" % backend.port))
                self.assertEqual((code, resp.text), (grpc.StatusCode.OK, "in"), details)
                for target in ("127.0.0.1:1", "ipv4:127.0.0.1:%d,10.1.1.1:80" % backend.port, "unix:/tmp/x"):
                    with self.subTest(target=target):
                        r = stub.Probe(ob.ProbeRequest(mode="call", target=target), metadata=backend_md(target),
                                       timeout=10)
                        self.assertEqual(r.code, grpc.StatusCode.PERMISSION_DENIED.value[0], r.text)
                        self.assertIn("--outbound", r.message)

    def test_a_hot_edit_while_outbound_calls_are_in_flight(self):
        with Host(workers=1) as backend, Host(workers=1, watch=True) as proxy:
            stub = ob.ProxyStub(proxy.channel())
            md = backend_md(backend.target)
            stops = Stops(backend)
            in_flight = [stub.Sleep.future(test.SleepRequest(seconds=1, tag="edit"), metadata=md, timeout=30)
                         for _ in range(5)]
            stops.wait("edit", "started", 5)
            path = os.path.join(proxy.scripts_dir, "proxy.lua")
            with open(path) as f:
                text = f.read()
            mark = proxy.mark()
            with open(path, "w") as f:
                f.write(text.replace('return (backend(call):call("hosttest.Test/Echo", req, opts(call)))',
                                     'req.text = req.text .. " v2"\n'
                                     '  return (backend(call):call("hosttest.Test/Echo", req, opts(call)))'))
            proxy.wait_log("msg=reloaded", start=mark)
            resp, code, details, _ = rpc(stub.Echo, test.EchoRequest(text="x"), metadata=md)
            self.assertEqual((code, resp.text), (grpc.StatusCode.OK, "x v2"), details)
            self.assertTrue(all(f.result().slept >= 0.99 for f in in_flight))

    def test_sigterm_with_outbound_calls_in_flight(self):
        with Host(workers=1) as backend:
            stops = Stops(backend)
            proxy = Host(workers=1, args=["--grace-ms", "300"]).__enter__()
            try:
                stub = ob.ProxyStub(proxy.channel())
                md = backend_md(backend.target)
                waiting = [stub.Sleep.future(test.SleepRequest(seconds=60, tag="sigterm"), metadata=md,
                                             timeout=60) for _ in range(3)]
                stops.wait("sigterm", "started", 3)
                proxy.send_signal(signal.SIGTERM)
                for f in waiting:
                    self.assertIsNotNone(f.exception(timeout=30))
            finally:
                proxy.__exit__(None, None, None)   # exit code 0, no sanitizer report
            stops.wait("sigterm", "stopped", 3)


class PythonBackend:
    """hosttest.Test in Python grpcio, in this process."""

    def __init__(self, credentials=None):
        self.cancelled = threading.Event()
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=16))
        handlers = {
            "Echo": grpc.unary_unary_rpc_method_handler(
                self.echo, test.EchoRequest.FromString, test.EchoRequest.SerializeToString),
            "Fail": grpc.unary_unary_rpc_method_handler(
                self.fail, test.FailRequest.FromString, test.Empty.SerializeToString),
            "Sleep": grpc.unary_unary_rpc_method_handler(
                self.sleep, test.SleepRequest.FromString, test.SleepReply.SerializeToString),
            "Range": grpc.unary_stream_rpc_method_handler(
                self.range, test.RangeRequest.FromString, Item.SerializeToString),
            "Sum": grpc.stream_unary_rpc_method_handler(
                self.sum, Item.FromString, test.SumReply.SerializeToString),
            "BidiEcho": grpc.stream_stream_rpc_method_handler(
                self.bidi, Item.FromString, Item.SerializeToString),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("hosttest.Test", handlers),))
        address = "127.0.0.1:0"
        port = (self.server.add_secure_port(address, credentials) if credentials
                else self.server.add_insecure_port(address))
        self.target = "127.0.0.1:%d" % port
        self.server.start()

    def stop(self):
        self.server.stop(None)

    def echo(self, req, context):
        return req

    def fail(self, req, context):
        status = load_stubs_as(os.path.join(SOURCE_DIR, "host", "builtin", "google", "rpc", "status.proto"),
                               "rpcstatus.proto")
        detail = status.Status(code=5, message="inner")
        context.set_trailing_metadata((("grpc-status-details-bin", status.Status(
            code=req.code, message=req.message, details=[_any(detail)]).SerializeToString()),))
        context.abort(grpc.StatusCode(_code(req.code)), req.message)

    def sleep(self, req, context):
        context.add_callback(self.cancelled.set)
        if self.cancelled.wait(req.seconds):
            return test.SleepReply()
        return test.SleepReply(slept=req.seconds)

    def range(self, req, context):
        context.send_initial_metadata((("x-range-h", "rh"),))
        context.set_trailing_metadata((("x-range-t", "rt"),))
        for i in range(1, req.count + 1):
            yield Item(seq=i, payload=req.payload)

    def sum(self, items, context):
        seqs = [i.seq for i in items]
        return test.SumReply(sum=sum(seqs), count=len(seqs))

    def bidi(self, items, context):
        for item in items:
            yield item


def _code(number):
    return next(c for c in grpc.StatusCode if c.value[0] == number)


def _any(message):
    from google.protobuf import any_pb2
    a = any_pb2.Any()
    a.Pack(message)
    return a


class PythonBackendTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backend = PythonBackend()
        cls.proxy = Host(workers=1).__enter__()
        cls.stub = ob.ProxyStub(cls.proxy.channel())
        cls.md = backend_md(cls.backend.target)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.__exit__(None, None, None)
        cls.backend.stop()

    def test_four_kinds(self):
        resp = self.stub.Echo(test.EchoRequest(text="py", count=3), metadata=self.md, timeout=10)
        self.assertEqual((resp.text, resp.count), ("py", 3))
        self.assertEqual([i.seq for i in self.stub.Range(test.RangeRequest(count=50), metadata=self.md,
                                                             timeout=10)], list(range(1, 51)))
        reply = self.stub.Sum(iter([Item(seq=i) for i in range(100)]), metadata=self.md, timeout=10)
        self.assertEqual((reply.sum, reply.count), (4950, 100))
        items = [Item(seq=i) for i in range(50)]
        self.assertEqual(list(self.stub.BidiEcho(iter(items), metadata=self.md, timeout=10)), items)

    def test_a_stream_keeps_its_metadata_after_the_end(self):
        call = self.stub.Range(test.RangeRequest(count=3), metadata=self.md, timeout=10)
        self.assertEqual([i.seq for i in call], [1, 2, 3])
        trailers = dict(call.trailing_metadata())
        self.assertEqual((trailers["backend-h-range-h"], trailers["backend-t-range-t"]), ("rh", "rt"))

    def test_an_error_with_details_passes_through(self):
        try:
            self.stub.Fail(test.FailRequest(code=9, message="precondition"), metadata=self.md, timeout=10)
            self.fail("no error")
        except grpc.RpcError as e:
            self.assertEqual((e.code(), e.details()), (grpc.StatusCode.FAILED_PRECONDITION, "precondition"))
            trailers = dict(e.trailing_metadata())
            status = load_stubs_as(os.path.join(SOURCE_DIR, "host", "builtin", "google", "rpc", "status.proto"),
                                   "rpcstatus.proto").Status.FromString(trailers["grpc-status-details-bin"])
            self.assertEqual((status.code, status.message, len(status.details)), (9, "precondition", 1))

    def test_the_deadline_reaches_the_backend(self):
        self.backend.cancelled.clear()
        _, code, _, _ = rpc(self.stub.Sleep, test.SleepRequest(seconds=30), metadata=self.md, timeout=0.5)
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertTrue(self.backend.cancelled.wait(10), "the backend did not see the call end")


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pki-")
        cls.pki = make_pki(cls.tmp, "backend.test")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def test_tls_to_a_host(self):
        with Host(workers=1, args=["--tls-cert", self.pki.cert, "--tls-key", self.pki.key]) as backend, \
                Host(workers=1) as proxy:
            stub = ob.ProxyStub(proxy.channel())
            md = backend_md(backend.target, tls_ca=self.pki.ca, authority="backend.test")
            resp, code, details, _ = rpc(stub.Echo, test.EchoRequest(text="secret"), metadata=md)
            self.assertEqual((code, resp.text), (grpc.StatusCode.OK, "secret"), details)
            # Another CA: the handshake fails, and the error says so.
            other = make_pki(tempfile.mkdtemp(dir=self.tmp), "backend.test")
            r = stub.Probe(ob.ProbeRequest(mode="call", target=backend.target),
                           metadata=backend_md(backend.target, tls_ca=other.ca, authority="backend.test"),
                           timeout=30)
            self.assertEqual(r.code, grpc.StatusCode.UNAVAILABLE.value[0], r.text)
            self.assertIn("ssl", r.text.lower())

    def test_a_client_certificate(self):
        with open(self.pki.key, "rb") as k, open(self.pki.cert, "rb") as c, open(self.pki.ca, "rb") as ca:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())], root_certificates=ca.read(),
                                                require_client_auth=True)
        backend = PythonBackend(creds)
        try:
            with Host(workers=1) as proxy:
                stub = ob.ProxyStub(proxy.channel())
                md = backend_md(backend.target, tls_ca=self.pki.ca, authority="backend.test",
                                tls_cert=self.pki.client_cert, tls_key=self.pki.client_key)
                resp, code, details, _ = rpc(stub.Echo, test.EchoRequest(text="mtls"), metadata=md)
                self.assertEqual((code, resp.text), (grpc.StatusCode.OK, "mtls"), details)
                without = backend_md(backend.target, tls_ca=self.pki.ca, authority="backend.test")
                r = stub.Probe(ob.ProbeRequest(mode="call", target=backend.target), metadata=without,
                               timeout=30)
                self.assertEqual(r.code, grpc.StatusCode.UNAVAILABLE.value[0], r.text)
        finally:
            backend.stop()


if __name__ == "__main__":
    unittest.main()
