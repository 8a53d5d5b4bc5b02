"""The outbound HTTP engine (host/http.h) on its own, through tests/http_engine_test.c, against
real HTTP and HTTPS servers on 127.0.0.1 (tests/httpserver.py): requests and responses, bodies
of every framing, keep-alive reuse, a retry on a connection the server had dropped, every way a
request fails, TLS verification, 500 requests at once, cancellation and a stop with requests in
flight. Under ASan the program's exit also proves that nothing leaked."""

import json
import os
import subprocess
import unittest

from harness import BUILD_DIR, SANITIZED, SANITIZER_MARKS, wait_until
from httpserver import FullBacklog, ServersTestCase, closed_port

PROGRAM = os.path.join(BUILD_DIR, "tests", "http_engine_test")


def run(*requests, options=(), env=None, timeout=60):
    """Runs the program with the requests (each a list of its arguments); returns the list of
    results (dicts) and the elapsed milliseconds it printed."""
    argv = [PROGRAM] + list(options)
    for i, req in enumerate(requests):
        argv += (["--"] if i else []) + list(req)
    full_env = dict(os.environ, **(env or {}))
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, env=full_env)
    for mark in SANITIZER_MARKS:
        if mark in r.stderr:
            raise AssertionError("sanitizer report:\n" + r.stderr[-5000:])
    if r.returncode != 0:
        raise AssertionError("exit %d:\n%s" % (r.returncode, r.stderr[-3000:]))
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    return lines[:-1], lines[-1]["elapsed_ms"]


def one(*args, **kw):
    results, _ = run(list(args), **kw)
    return results[0]


def headers(result):
    return dict(result["headers"])


class EngineTest(ServersTestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(PROGRAM):
            raise unittest.SkipTest("%s is not built" % PROGRAM)
        super().setUpClass()

    def assertFails(self, result, error):
        self.assertEqual(result["status"], 0, result)
        self.assertEqual(result["error"], error)

    # --- requests and responses --------------------------------------------------------
    def test_get_with_headers_and_post_with_a_body(self):
        get, post = run(["get", self.http.origin + "/echo?id=7&x=y", "-H", "X-Trace: abc"],
                        ["POST", self.http.origin + "/echo", "-d", "hello body",
                         "-H", "Content-Type: text/plain"])[0]
        self.assertEqual(get["status"], 200, get)
        seen = json.loads(get["body"])
        self.assertEqual((seen["method"], seen["path"], seen["query"]), ("GET", "/echo", "id=7&x=y"))
        self.assertEqual(seen["headers"]["x-trace"], "abc")
        self.assertEqual(seen["headers"]["host"], "127.0.0.1:%d" % self.http.port)
        self.assertEqual(seen["headers"]["user-agent"], "grpc-lua-host")
        self.assertNotIn("content-length", seen["headers"])
        self.assertEqual(headers(get)["content-type"], "application/json")   # keys lower-case
        seen = json.loads(post["body"])
        self.assertEqual((seen["method"], seen["body"]), ("POST", "hello body"))
        self.assertEqual(seen["headers"]["content-length"], "10")
        self.assertEqual(seen["headers"]["content-type"], "text/plain")

    def test_bodies_of_every_framing(self):
        chunked, until_close, big, early, head = run(
            ["GET", self.http.origin + "/chunked?n=5"], ["GET", self.http.origin + "/noframe?n=7"],
            ["GET", self.http.origin + "/bigchunked?n=300000", "-m", "300000"],
            ["GET", self.http.origin + "/early"], ["HEAD", self.http.origin + "/big?n=10"])[0]
        self.assertEqual(chunked["body"], "".join("chunk %d\n" % i for i in range(5)))
        self.assertEqual(until_close["body"], "xxxxxxx")
        self.assertEqual(big["body"], "x" * 300000)
        self.assertEqual((early["status"], early["body"]), (200, "final"))   # 103 dropped
        self.assertEqual((head["status"], head["body"], headers(head)["content-length"]),
                         (200, "", "10"))

    def test_repeated_headers_arrive_in_order(self):
        r = one("GET", self.http.origin + "/dup")
        self.assertEqual([h for h in r["headers"] if h[0] in ("x-dup", "set-cookie")],
                         [["x-dup", "a"], ["x-dup", "b"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]])

    def test_an_error_status_is_a_response(self):
        r = one("GET", self.http.origin + "/status?code=503")
        self.assertEqual((r["status"], r["error"], r["body"]), (503, "", "status 503"))

    # --- connections -------------------------------------------------------------------
    def test_keep_alive_reuses_one_connection(self):
        results, _ = run(*[["GET", self.http.origin + "/echo"]] * 5, options=["--sequential"])
        self.assertEqual([r["status"] for r in results], [200] * 5)
        self.assertEqual(self.http.count("accepted"), 1)

    def test_a_closed_connection_is_not_reused(self):
        results, _ = run(["GET", self.http.origin + "/close"], ["GET", self.http.origin + "/echo"],
                         ["GET", self.http.origin + "/noframe"], ["GET", self.http.origin + "/echo"],
                         options=["--sequential"])
        self.assertEqual([r["status"] for r in results], [200] * 4)
        self.assertEqual(self.http.count("accepted"), 3)

    def test_an_idempotent_request_is_retried_once_on_a_dropped_connection(self):
        results, _ = run(["GET", self.http.origin + "/stale"], ["GET", self.http.origin + "/echo"],
                         options=["--sequential"])
        self.assertEqual([r["status"] for r in results], [200, 200], results)
        self.assertEqual(self.http.count("accepted"), 2)

    def test_a_post_is_not_retried(self):
        results, _ = run(["GET", self.http.origin + "/stale"], ["POST", self.http.origin + "/echo", "-d", "x"],
                         options=["--sequential"])
        self.assertFails(results[1], "connection closed by the server before any response")
        self.assertEqual(self.http.count("accepted"), 1)

    def test_500_requests_at_once(self):
        results, elapsed = run(["GET", self.http.origin + "/delay?ms=1000", "-n", "500", "-t", "30"])
        self.assertEqual([r["status"] for r in results], [200] * 500)
        # One after another they would take 500 s: all at once, a little over one.
        self.assertLess(elapsed, 4000 if SANITIZED else 2000)

    # --- failures ----------------------------------------------------------------------
    def test_transport_failures_name_what_failed(self):
        port = closed_port()
        refused, dns, reset, garbage, large, large_chunked = run(
            ["GET", "http://127.0.0.1:%d/" % port], ["GET", "http://no-such-host.invalid/"],
            ["GET", self.http.origin + "/reset"], ["GET", self.http.origin + "/garbage"],
            ["GET", self.http.origin + "/big?n=2000", "-m", "1000"],
            ["GET", self.http.origin + "/bigchunked?n=200000", "-m", "100000"])[0]
        self.assertFails(refused, "connection refused")
        self.assertFails(dns, "DNS: no such host")
        self.assertFails(reset, "connection reset")
        self.assertFails(garbage, "bad response: invalid HTTP version")
        self.assertFails(large, "response larger than --max-message-bytes (1000)")
        self.assertFails(large_chunked, "response larger than --max-message-bytes (100000)")

    def test_timeouts(self):
        with FullBacklog() as dead:
            total, connect = run(["GET", self.http.origin + "/hang", "-t", "0.5"],
                                 ["GET", "http://127.0.0.1:%d/" % dead.port, "-c", "0.5"])[0]
        self.assertFails(total, "timed out after 0.5 s")
        self.assertFails(connect, "connect timed out after 0.5 s")
        wait_until(lambda: self.http.count("closed") == self.http.count("accepted"), 10,
                   what="the server to see the timed-out connection closed")

    def test_bad_requests_are_refused_before_sending(self):
        cases = [
            (["GET", "ftp://x/"], "unsupported scheme 'ftp' (http or https)"),
            (["GET", "/relative"], "not an absolute http:// or https:// URL"),
            (["GET", "http://a b/"], "not an absolute http:// or https:// URL"),
            (["GET", "http://u:p@x/"], "user info in the URL is not sent: give an authorization header"),
            (["G T", "http://x/"], "method 'G T' is not a valid HTTP method"),
            (["GET", "http://x/", "-H", "Bad Name: 1"], "header name 'Bad Name' is not a token (RFC 9110)"),
            (["GET", "http://x/", "-H", "X: a\r\nInjected: 1"],
             "header X: control characters (CR, LF, NUL...) in the value"),
            (["POST", "http://x/", "-H", "Content-Length: 3"], "header Content-Length: the host sets it from the body"),
        ]
        results, _ = run(*[c[0] for c in cases])
        for (args, error), r in zip(cases, results):
            self.assertFails(r, error)

    # --- TLS ---------------------------------------------------------------------------
    def test_tls_verifies_chain_and_name(self):
        no_env = {"SSL_CERT_FILE": os.path.join(self.tmp, "absent"), "SSL_CERT_DIR": ""}
        ok, untrusted, wrong_name, insecure = run(
            ["GET", self.https.origin + "/echo", "--ca", self.ca.ca_cert],
            ["GET", self.https.origin + "/echo"],
            ["GET", "https://127.0.0.1:%d/echo" % self.https.port, "--ca", self.ca.ca_cert],
            ["GET", "https://127.0.0.1:%d/echo" % self.https.port, "-k"], env=no_env)[0]
        self.assertEqual(ok["status"], 200, ok)
        self.assertEqual(json.loads(ok["body"])["headers"]["host"], "localhost:%d" % self.https.port)
        self.assertFails(untrusted, "TLS: certificate verify failed (unable to get local issuer certificate)")
        self.assertFails(wrong_name, "TLS: certificate verify failed (IP address mismatch)")
        self.assertEqual(insecure["status"], 200, insecure)

    def test_roots_from_SSL_CERT_FILE(self):
        r = one("GET", self.https.origin + "/echo", env={"SSL_CERT_FILE": self.ca.ca_cert})
        self.assertEqual(r["status"], 200, r)

    def test_a_ca_file_that_cannot_be_read(self):
        r = one("GET", self.https.origin + "/echo", "--ca", os.path.join(self.tmp, "absent.pem"))
        self.assertEqual(r["status"], 0)
        self.assertIn("TLS: cannot load CA certificates from %s" % os.path.join(self.tmp, "absent.pem"),
                      r["error"])

    def test_keep_alive_over_tls(self):
        results, _ = run(*[["GET", self.https.origin + "/echo", "--ca", self.ca.ca_cert]] * 3,
                         options=["--sequential"])
        self.assertEqual([r["status"] for r in results], [200] * 3)
        self.assertEqual(self.https.count("accepted"), 1)

    # --- cancellation and stop ---------------------------------------------------------
    def test_cancel_drops_the_request_and_its_connection(self):
        in_flight, at_once = run(["GET", self.http.origin + "/hang", "--cancel-ms", "300"],
                                 ["GET", self.http.origin + "/hang", "--cancel-ms", "0"])[0]
        self.assertFails(in_flight, "cancelled")
        self.assertFails(at_once, "cancelled")
        wait_until(lambda: self.http.count("closed") == self.http.count("accepted"), 10,
                   what="the server to see every connection closed")

    def test_stop_with_requests_in_flight(self):
        results, _ = run(["GET", self.http.origin + "/hang", "-n", "20"],
                         ["GET", self.https.origin + "/hang", "--ca", self.ca.ca_cert, "-n", "5"],
                         options=["--free-ms", "300"])
        for r in results:
            self.assertFails(r, "the host is stopping")


if __name__ == "__main__":
    unittest.main()
