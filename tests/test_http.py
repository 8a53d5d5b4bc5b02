"""http.request from handlers, end to end: gRPC calls into the host, whose handlers reach HTTP and
HTTPS servers on 127.0.0.1 (tests/httpserver.py; a test CA made with openssl). Requests and
responses, keep-alive, 500 requests at once on one worker, every failure as the handler sees it,
TLS, --outbound, --max-outbound, a hot edit, cancellation and SIGTERM with requests in flight."""

import os
import signal
import time
import unittest

import grpc

from harness import SANITIZED, Host, pb, rpc, run_host_once, wait_until
from httpserver import FullBacklog, ServersTestCase, closed_port

# helloworld.Greeter whose SayHello runs one http.request: name is "op<TAB>url[<TAB>arg]".
GREETER = r"""
local M = {}

local function split(s)
  local t = {}
  for part in (s .. "\t"):gmatch("(.-)\t") do t[#t + 1] = part end
  return t
end

local ops = {}
function ops.get(url) local r = http.request(url) return r.status .. "|" .. r.body end
function ops.post(url, body)
  local r = http.request(url, { method = "POST", body = body,
                                headers = { ["content-type"] = "text/plain", ["x-num"] = 42 } })
  return r.status .. "|" .. r.body
end
function ops.headers(url)
  local r, keys, out = http.request(url), {}, {}
  for k in pairs(r.headers) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do out[#out + 1] = k .. "=" .. r.headers[k] end
  return table.concat(out, ";")
end
function ops.ca(url, ca) return http.request(url, { ca = ca }).body end
function ops.insecure(url) return http.request(url, { insecure = true }).status end
function ops.timeout(url, t) return http.request(url, { timeout = tonumber(t) }).status end
function ops.connect(url, t) return http.request(url, { connect_timeout = tonumber(t) }).status end
function ops.caught(url)
  local ok, err = pcall(http.request, url)
  return tostring(ok) .. " " .. tostring(err.code) .. " " .. tostring(err.message)
end
function ops.badopt(url) return http.request(url, { timeot = 1 }) end
function ops.version(url) return "v1 " .. http.request(url).body end

function M.SayHello(req)
  local a = split(req.name)
  return { message = tostring(ops[a[1]](a[2], a[3])) }
end
return M
"""


class HttpTest(ServersTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.scripts = os.path.join(cls.tmp, "scripts")
        os.mkdir(cls.scripts)
        with open(os.path.join(cls.scripts, "greeter.lua"), "w") as f:
            f.write(GREETER)

    def host(self, *args, **kw):
        return Host(scripts=self.scripts, workers=1, args=["--max-streams", "1000"] + list(args), **kw)

    def say(self, host, *parts, timeout=30):
        stub = pb.helloworld_grpc.GreeterStub(host.channel())
        resp, code, details, _ = rpc(stub.SayHello, pb.helloworld.HelloRequest(name="\t".join(parts)),
                                     timeout=timeout)
        return (resp.message if resp else None), code, details

    def assertSays(self, host, expected, *parts):
        message, code, details = self.say(host, *parts)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(message, expected)

    def in_flight(self, host, n, *parts, timeout=30):
        """n calls of SayHello("op\turl...") whose requests have all reached the HTTP server."""
        stub = pb.helloworld_grpc.GreeterStub(host.channel())
        req = pb.helloworld.HelloRequest(name="\t".join(parts))
        seen = self.http.count("requests")
        futures = [stub.SayHello.future(req, timeout=timeout) for _ in range(n)]
        wait_until(lambda: self.http.count("requests") == seen + n, 10, what="%d requests in flight" % n)
        return futures

    def assertFails(self, host, code, details, *parts):
        message, got, got_details = self.say(host, *parts)
        self.assertEqual((got, got_details), (code, details))

    # --- requests and responses --------------------------------------------------------
    def test_get_post_headers_and_bodies(self):
        with self.host() as host:
            message, code, details = self.say(host, "get", self.http.origin + "/echo?q=1")
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertTrue(message.startswith('200|{"method": "GET", "path": "/echo", "query": "q=1"'),
                            message)
            message, code, details = self.say(host, "post", self.http.origin + "/echo", "a body")
            self.assertEqual(code, grpc.StatusCode.OK, details)
            for part in ('"method": "POST"', '"content-type": "text/plain"', '"x-num": "42"',
                         '"content-length": "6"', '"body": "a body"'):
                self.assertIn(part, message)
            self.assertSays(host, "content-length=3;set-cookie=a=1, b=2;x-dup=a, b",
                            "headers", self.http.origin + "/dup")
            self.assertSays(host, "200|" + "".join("chunk %d\n" % i for i in range(4)),
                            "get", self.http.origin + "/chunked?n=4")
            self.assertSays(host, "503|status 503", "get", self.http.origin + "/status?code=503")

    def test_keep_alive_connections_are_reused(self):
        with self.host() as host:
            for _ in range(5):
                self.assertSays(host, "200|slept", "get", self.http.origin + "/delay?ms=1")
        self.assertEqual(self.http.count("accepted"), 1)

    def test_500_requests_at_once_on_one_worker(self):
        with self.host() as host:
            stub = pb.helloworld_grpc.GreeterStub(host.channel())
            req = pb.helloworld.HelloRequest(name="get\t" + self.http.origin + "/delay?ms=1000")
            started = time.monotonic()
            futures = [stub.SayHello.future(req, timeout=60) for _ in range(500)]
            messages = {f.result().message for f in futures}
            elapsed = time.monotonic() - started
            self.assertEqual(messages, {"200|slept"})
        # One after another they would take 500 s; at once, a little over one.
        self.assertLess(elapsed, 4.0 if SANITIZED else 2.0)

    # --- failures ------------------------------------------------------------------------
    def test_failures_raise_status_errors_naming_url_and_cause(self):
        port = closed_port()
        with self.host("--max-message-bytes", "1000") as host, FullBacklog() as dead:
            U = grpc.StatusCode
            self.assertFails(host, U.UNAVAILABLE, "http.request http://127.0.0.1:%d/x: connection refused" % port,
                             "get", "http://127.0.0.1:%d/x" % port)
            line = host.wait_log("http.request failed")
            for part in ("level=warn", "method=/helloworld.Greeter/SayHello",
                         "url=http://127.0.0.1:%d/x" % port, 'error="connection refused"'):
                self.assertIn(part, line)
            self.assertFails(host, U.UNAVAILABLE, "http.request http://no-such-host.invalid/: DNS: no such host",
                             "get", "http://no-such-host.invalid/")
            self.assertFails(host, U.UNAVAILABLE,
                             "http.request %s/reset: connection reset" % self.http.origin,
                             "get", self.http.origin + "/reset")
            self.assertFails(host, U.DEADLINE_EXCEEDED,
                             "http.request %s/hang: timed out after 0.5 s" % self.http.origin,
                             "timeout", self.http.origin + "/hang", "0.5")
            self.assertFails(host, U.DEADLINE_EXCEEDED,
                             "http.request http://127.0.0.1:%d/: connect timed out after 0.5 s" % dead.port,
                             "connect", "http://127.0.0.1:%d/" % dead.port, "0.5")
            self.assertFails(host, U.RESOURCE_EXHAUSTED,
                             "http.request %s/big: response larger than --max-message-bytes (1000)"
                             % self.http.origin, "get", self.http.origin + "/big?n=5000")
            self.assertSays(host, "false 14 http.request %s/reset: connection reset" % self.http.origin,
                            "caught", self.http.origin + "/reset")
            message, code, details = self.say(host, "get", "ftp://x/")   # a plain error, with the line
            self.assertEqual(code, U.UNKNOWN)
            self.assertRegex(details, r"greeter\.lua:\d+: http\.request ftp://x/: unsupported scheme 'ftp' "
                                      r"\(http or https\)$")
            message, code, details = self.say(host, "badopt", self.http.origin)
            self.assertEqual(code, U.UNKNOWN)
            self.assertIn("http.request: unknown option 'timeot'", details)
            self.assertSays(host, "200|slept", "get", self.http.origin + "/delay?ms=1")   # still serving

    def test_only_from_a_handler(self):
        d = os.path.join(self.tmp, "toplevel")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "greeter.lua"), "w") as f:
            f.write('http.request("http://127.0.0.1:1/")\nreturn {}\n')
        code, out = run_host_once(["--check", "--scripts", d, "--protoset", Host().protosets[0]])
        self.assertEqual(code, 1, out)
        self.assertIn("http.request must be called from a handler itself, not from a nested coroutine "
                      "or the script's top level", out)

    # --- TLS -----------------------------------------------------------------------------
    def test_tls_verification(self):
        U = grpc.StatusCode
        with self.host() as host:
            ok = self.say(host, "ca", self.https.origin + "/echo", self.ca.ca_cert)
            self.assertEqual(ok[1], U.OK, ok[2])
            self.assertIn('"host": "localhost:%d"' % self.https.port, ok[0])
            self.assertFails(host, U.UNAVAILABLE,
                             "http.request %s/echo: TLS: certificate verify failed "
                             "(unable to get local issuer certificate)" % self.https.origin,
                             "get", self.https.origin + "/echo")
            by_ip = "https://127.0.0.1:%d/echo" % self.https.port
            self.assertFails(host, U.UNAVAILABLE,
                             "http.request %s: TLS: certificate verify failed (IP address mismatch)" % by_ip,
                             "ca", by_ip, self.ca.ca_cert)
            self.assertSays(host, "200", "insecure", by_ip)
        with self.host(env={"SSL_CERT_FILE": self.ca.ca_cert}) as host:
            self.assertSays(host, "200|slept", "get", self.https.origin + "/delay?ms=1")

    # --- limits --------------------------------------------------------------------------
    def test_outbound_restricts_targets(self):
        allowed = "127.0.0.1:%d" % self.http.port
        with self.host("--outbound", allowed + ",*.example.com") as host:
            self.assertSays(host, "200|slept", "get", self.http.origin + "/delay?ms=1")
            other = "http://127.0.0.1:%d/" % self.https.port
            self.assertFails(host, grpc.StatusCode.PERMISSION_DENIED,
                             "http.request %s: the host and port are not in --outbound" % other, "get", other)
        code, out = run_host_once(["--outbound", "a.example.com:99999"])
        self.assertEqual(code, 2)
        self.assertIn("--outbound: 'a.example.com:99999' is not HOST, HOST:PORT or [IPV6]:PORT", out)

    def test_max_outbound_fails_the_next_request_at_once(self):
        with self.host("--max-outbound", "2") as host:
            first = self.in_flight(host, 2, "get", self.http.origin + "/delay?ms=1000")
            self.assertFails(host, grpc.StatusCode.RESOURCE_EXHAUSTED,
                             "http.request %s/delay: more than --max-outbound (2) requests in flight on "
                             "this worker" % self.http.origin, "get", self.http.origin + "/delay?ms=1000")
            self.assertEqual([f.result().message for f in first], ["200|slept"] * 2)
            self.assertSays(host, "200|slept", "get", self.http.origin + "/delay?ms=1")

    # --- the host's life around requests in flight --------------------------------------
    def test_hot_edit_with_requests_in_flight(self):
        with self.host(watch=True) as host:
            futures = self.in_flight(host, 20, "version", self.http.origin + "/delay?ms=1500")
            mark = host.mark()
            path = os.path.join(host.scripts_dir, "greeter.lua")
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace('"v1 "', '"v2 "'))
            host.wait_log("msg=reloaded", start=mark)
            self.assertEqual({f.result().message for f in futures}, {"v1 slept"})
            self.assertSays(host, "v2 slept", "version", self.http.origin + "/delay?ms=1")

    def test_a_cancelled_call_drops_its_request(self):
        with self.host() as host:
            message, code, details = self.say(host, "timeout", self.http.origin + "/hang", "30", timeout=0.5)
            self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
            f, = self.in_flight(host, 1, "timeout", self.http.origin + "/hang", "30")
            f.cancel()
            wait_until(lambda: self.http.count("closed") == 2, 10,
                       what="the HTTP server to see both connections closed")
            self.assertSays(host, "200|slept", "get", self.http.origin + "/delay?ms=1")
            host.wait_log(lambda l: "status=CANCELLED" in l, what="the cancelled call's log line")

    def test_sigterm_waits_for_requests_in_flight(self):
        with self.host() as host:
            futures = self.in_flight(host, 10, "get", self.http.origin + "/delay?ms=500")
            host.send_signal(signal.SIGTERM)
            self.assertEqual({f.result().message for f in futures}, {"200|slept"})
            self.assertEqual(host.stop(), 0, host.output())

    def test_sigterm_past_the_grace_period_cancels_requests(self):
        with self.host("--grace-ms", "300") as host:
            futures = self.in_flight(host, 5, "timeout", self.http.origin + "/hang", "60", timeout=60)
            host.send_signal(signal.SIGTERM)
            self.assertEqual(host.stop(), 0, host.output())
            for f in futures:
                self.assertNotEqual(f.exception(timeout=10), None)
            wait_until(lambda: self.http.count("closed") == 5, 10,
                       what="the HTTP server to see every connection closed")


if __name__ == "__main__":
    unittest.main()
