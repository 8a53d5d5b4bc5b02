"""Script reload: SIGHUP, and watching the scripts directory (docs/handlers.md, --no-watch)."""

import os
import shutil
import signal
import tempfile
import unittest

import grpc

from harness import Host, pb, rpc, wait_until

RELOAD_TIMEOUT = 10.0


def greeter(word):
    return ("local M = {}\n"
            "function M.SayHello(req, call)\n"
            "  return { message = '%s ' .. req.name }\n"
            "end\n"
            "return M\n" % word)


BROKEN = "local M = {}\nfunction M.SayHello(req, call)\n  return { message = \nreturn M\n"


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hostreload-")
        self.write(greeter("v1"))

    def tearDown(self):
        shutil.rmtree(self.dir, True)

    def write(self, text, host=None):
        """Writes greeter.lua in place: in the host's scripts dir (a copy) when given."""
        d = host.scripts_dir if host else self.dir
        with open(os.path.join(d, "greeter.lua"), "w") as f:
            f.write(text)

    def greet(self, stub):
        resp, code, details, _ = rpc(stub.SayHello, pb.helloworld.HelloRequest(name="x"))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        return resp.message

    def wait_for(self, stub, want):
        """Waits until SayHello answers want on 10 calls in a row (every worker reloaded)."""
        wait_until(lambda: all(self.greet(stub) == want for _ in range(10)), RELOAD_TIMEOUT,
                   interval=0.05, what="SayHello to answer %r" % want)

    def test_sighup_reloads(self):
        with Host(scripts=self.dir, workers=2) as host:
            stub = host.greeter_stub()
            self.assertEqual(self.greet(stub), "v1 x")
            self.write(greeter("v2"), host)
            host.send_signal(signal.SIGHUP)
            self.wait_for(stub, "v2 x")

    def test_sighup_with_broken_script_keeps_serving(self):
        with Host(scripts=self.dir, workers=1) as host:
            stub = host.greeter_stub()
            self.assertEqual(self.greet(stub), "v1 x")
            mark = host.mark()
            self.write(BROKEN, host)
            host.send_signal(signal.SIGHUP)
            host.wait_log(lambda l: "greeter.lua:4" in l, start=mark, timeout=RELOAD_TIMEOUT,
                          what="a log line naming greeter.lua:4")
            self.assertEqual(self.greet(stub), "v1 x")
            # A fixed script is picked up by the next reload.
            self.write(greeter("v3"), host)
            host.send_signal(signal.SIGHUP)
            self.wait_for(stub, "v3 x")

    def test_watch_reloads_changed_script(self):
        with Host(scripts=self.dir, workers=2, watch=True) as host:
            stub = host.greeter_stub()
            self.assertEqual(self.greet(stub), "v1 x")
            self.write(greeter("v2"), host)
            self.wait_for(stub, "v2 x")

    def test_no_watch_keeps_scripts(self):
        # With --no-watch a changed file is not picked up by itself, but SIGHUP still works.
        with Host(scripts=self.dir, workers=1) as host:
            stub = host.greeter_stub()
            self.assertEqual(self.greet(stub), "v1 x")
            self.write(greeter("v2"), host)
            for _ in range(10):
                self.assertEqual(self.greet(stub), "v1 x")
            host.send_signal(signal.SIGHUP)
            self.wait_for(stub, "v2 x")


if __name__ == "__main__":
    unittest.main()
