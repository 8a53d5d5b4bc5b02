"""host --call: a call of a running host from the shell, requests and replies in the proto3 JSON
mapping. The host under test is the real one; --call is the real binary, a gRPC client of its
own. One reply a line on stdout; requests of streaming methods one a line on stdin; a status
other than OK on stderr as "NAME: message", the exit code 64 + its code."""

import json
import select
import subprocess
import time
import unittest

from harness import EXAMPLE_PROTOSET, HOST_BIN, TEST_PROTOSET, HostTestCase

PROTOSETS = ["--protoset", EXAMPLE_PROTOSET, "--protoset", TEST_PROTOSET]

TIMEOUT = 30


class CallTest(HostTestCase):
    def call(self, method, *args, stdin=None, target=None):
        """Runs host --call: (exit code, the JSON replies, stderr)."""
        argv = [HOST_BIN, "--call", method, *args, "--target", target or self.host.target] + PROTOSETS
        r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=TIMEOUT)
        return r.returncode, [json.loads(line) for line in r.stdout.splitlines()], r.stderr

    def test_unary(self):
        code, replies, err = self.call("helloworld.Greeter/SayHello", '{"name": "world"}')
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(replies, [{"message": "Hello world"}])

    def test_unary_without_a_request_sends_the_empty_message(self):
        code, replies, err = self.call("/helloworld.Greeter/SayHello")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(replies, [{"message": "Hello "}])

    def test_server_streaming_prints_a_line_a_reply(self):
        code, replies, err = self.call("helloworld.Greeter/SayHelloStreamReply", '{"name": "s"}')
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(replies, [{"message": "Hello s #%d" % i} for i in (1, 2, 3)])

    def test_client_streaming_reads_a_request_a_line(self):
        stdin = '{"name": "a"}\n\n{"name": "b"}\n{"name": "c"}'      # a blank line; no final newline
        code, replies, err = self.call("helloworld.Greeter/SayHelloClientStream", stdin=stdin)
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(replies, [{"message": "Hello a, b, c"}])

    def test_bidi_answers_each_line_as_it_comes(self):
        # A reply comes out before the next request goes in: the call is a conversation.
        proc = subprocess.Popen([HOST_BIN, "--call", "helloworld.Greeter/SayHelloBidiStream",
                                 "--target", self.host.target], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        try:
            for name in ("ping", "pong"):
                proc.stdin.write('{"name": "%s"}\n' % name)
                proc.stdin.flush()
                ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
                self.assertTrue(ready, "no reply to %s while stdin stays open" % name)
                self.assertEqual(json.loads(proc.stdout.readline()), {"message": "Hello " + name})
            proc.stdin.close()
            self.assertEqual(proc.wait(TIMEOUT), 0, proc.stderr.read())
            self.assertEqual(proc.stdout.read(), "")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()

    def test_a_status_goes_to_stderr_and_the_exit_code(self):
        code, replies, err = self.call("hosttest.Test/Fail",
                                       '{"name": "NOT_FOUND", "message": "no such thing"}')
        self.assertEqual(replies, [])
        self.assertEqual(err, "NOT_FOUND: no such thing\n")
        self.assertEqual(code, 64 + 5)

    def test_replies_before_a_status_are_printed(self):
        code, replies, err = self.call("hosttest.Test/FailStream",
                                       '{"name": "ABORTED", "message": "gave up", "sends": 2}')
        self.assertEqual(len(replies), 2, replies)
        self.assertEqual((code, err), (64 + 10, "ABORTED: gave up\n"))

    def test_no_host_there_is_unavailable(self):
        started = time.monotonic()
        code, replies, err = self.call("helloworld.Greeter/SayHello", "{}", target="127.0.0.1:1")
        self.assertEqual(code, 64 + 14, err)
        self.assertTrue(err.startswith("UNAVAILABLE: "), err)
        self.assertLess(time.monotonic() - started, TIMEOUT)

    def test_a_request_that_does_not_map_is_ours_to_report(self):
        code, replies, err = self.call("helloworld.Greeter/SayHello", '{"nmae": "x"}')
        self.assertEqual(code, 1, err)
        self.assertTrue(err.startswith("host --call: the request: "), err)
        self.assertIn("nmae", err)
        code, replies, err = self.call("helloworld.Greeter/SayHelloClientStream",
                                       stdin='{"name": "a"}\n{"name": \n')
        self.assertEqual(code, 1, err)
        self.assertTrue(err.startswith("host --call: stdin line 2: "), err)
        self.assertServing()

    def test_unknown_methods_are_named(self):
        code, _, err = self.call("helloworld.Greeter/SayHi", "{}")
        self.assertEqual(code, 1)
        self.assertEqual(err, "host --call: helloworld.Greeter has no method 'SayHi'\n")
        code, _, err = self.call("helloworld.Greter/SayHello", "{}")
        self.assertEqual(code, 1)
        self.assertIn("no service 'helloworld.Greter'", err)


if __name__ == "__main__":
    unittest.main()
