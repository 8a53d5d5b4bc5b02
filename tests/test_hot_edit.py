"""Hot edit (issue 6): a handler changed on a running host, with no call lost. Calls in
flight keep the version they started on; a broken edit changes nothing; a new protoset and
script add a service without a restart."""

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import grpc

from harness import EXAMPLE_PROTOSET, SANITIZED, Host, load_stubs, pb, rpc, rss_kb, wait_until

REQ = pb.helloworld.HelloRequest


def greeter(word):
    return ("local M = {}\n"
            "function M.SayHello(req) return { message = '%s ' .. req.name } end\n"
            "function M.SayHelloBidiStream(call)\n"
            "  for req in call:messages() do call:send({ message = '%s ' .. req.name }) end\n"
            "end\n"
            "return M\n" % (word, word))


def greet(stub):
    resp, code, details, _ = rpc(stub.SayHello, REQ(name="x"))
    return resp.message if code == grpc.StatusCode.OK else "%s: %s" % (code, details)


class Load:
    """Unary SayHello calls in a loop on a thread: (time sent, message or status) each."""

    def __init__(self, stub):
        self.stub = stub
        self.results = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            sent = time.monotonic()
            resp, code, details, _ = rpc(self.stub.SayHello, REQ(name="x"), timeout=10)
            self.results.append((sent, resp.message if code == grpc.StatusCode.OK else
                                 "%s: %s" % (code, details)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


class HotEditTest(unittest.TestCase):
    def write(self, host, text, name="greeter.lua"):
        path = os.path.join(host.scripts_dir, name)
        with open(path + ".tmp", "w") as f:   # as editors do: write a copy, rename it over
            f.write(text)
        os.rename(path + ".tmp", path)

    def start(self, **kw):
        dirs = tempfile.mkdtemp(prefix="hotedit-")
        self.addCleanup(shutil.rmtree, dirs, True)
        with open(os.path.join(dirs, "greeter.lua"), "w") as f:
            f.write(greeter("v1"))
        host = Host(scripts=dirs, watch=True, **kw)
        host.__enter__()
        self.addCleanup(host.__exit__, None, None, None)
        return host

    def test_edit_under_steady_load(self):
        host = self.start(workers=2)
        with Load(host.greeter_stub()) as load:
            wait_until(lambda: len(load.results) >= 50, 10, what="calls before the edit")
            edited = time.monotonic()
            self.write(host, greeter("v2"))
            host.wait_log("msg=reloaded", timeout=10)
            wait_until(lambda: load.results and load.results[-1][0] > edited + 1.5, 10,
                       what="calls more than a second after the edit")
        failed = [r for r in load.results if r[1] not in ("v1 x", "v2 x")]
        self.assertEqual(failed, [], "calls failed during the edit")
        late = [r for r in load.results if r[0] > edited + 1.0 and r[1] != "v2 x"]
        self.assertEqual(late, [], "calls a second after the edit still ran the old handler")

    def test_stream_keeps_the_version_it_started_with(self):
        host = self.start(workers=1)
        stub = host.greeter_stub()
        requests = queue.Queue()
        replies = stub.SayHelloBidiStream(iter(requests.get, None), timeout=30)
        requests.put(REQ(name="a"))
        self.assertEqual(next(replies).message, "v1 a")
        self.write(host, greeter("v2"))
        host.wait_log("msg=reloaded", timeout=10)
        wait_until(lambda: greet(stub) == "v2 x", 10,
                   what="new calls to run v2")
        requests.put(REQ(name="b"))
        self.assertEqual(next(replies).message, "v1 b")
        requests.put(None)
        self.assertEqual(list(replies), [])

    def test_broken_edits_change_nothing(self):
        host = self.start(workers=2)
        stub = host.greeter_stub()
        cases = [("syntax", "local M = {}\nfunction M.SayHello(req)\n  return { message = \nreturn M\n",
                  "greeter.lua:4:"),
                 ("runtime", "local M = {}\nlocal t = nil\nlocal x = t.field\nreturn M\n",
                  "greeter.lua:3: attempt to index a nil value"),
                 ("no such method", "return { SayHola = function() end }\n",
                  "'SayHola' is not a method of helloworld.Greeter")]
        for what, text, logged in cases:
            with self.subTest(what):
                mark = host.mark()
                self.write(host, text)
                line = host.wait_log("reload failed", start=mark, timeout=10)
                self.assertIn(logged, line)
                for _ in range(4):
                    self.assertEqual(greet(stub), "v1 x")
        self.write(host, greeter("v3"))
        wait_until(lambda: greet(stub) == "v3 x", 10,
                   what="the fixed script to load")

    def test_fifty_reloads_under_load(self):
        host = self.start(workers=2)
        with Load(host.greeter_stub()) as load:
            for i in range(50):
                mark = host.mark()
                self.write(host, greeter("v%d" % i))
                host.send_signal(signal.SIGHUP)
                host.wait_log("msg=reloaded", start=mark, timeout=10)
                if i == 9:
                    after_ten = rss_kb(host.proc.pid)
            after_fifty = rss_kb(host.proc.pid)
        failed = [r for r in load.results if not r[1].startswith("v")]
        self.assertEqual(failed, [])
        self.assertGreater(len(load.results), 50)
        # Forty more reloads hold on to no memory (old states go with their last call).
        if not SANITIZED:
            self.assertLess(after_fifty - after_ten, 8 * 1024, "RSS grew %d kB" % (after_fifty - after_ten))

    def test_new_protoset_and_script_add_a_service(self):
        protosets = tempfile.mkdtemp(prefix="hotedit-protosets-")
        self.addCleanup(shutil.rmtree, protosets, True)
        shutil.copy(EXAMPLE_PROTOSET, protosets)
        host = self.start(workers=2, protosets=[protosets])
        with open(os.path.join(protosets, "extra.proto"), "w") as f:
            f.write('syntax = "proto3";\npackage extra;\n'
                    'message Ping { string text = 1; }\n'
                    'service Extra { rpc Echo(Ping) returns (Ping); }\n')
        subprocess.run(["protoc", "-I" + protosets, "--descriptor_set_out=" +
                        os.path.join(protosets, "extra.pb.tmp"), "extra.proto"], check=True)
        os.rename(os.path.join(protosets, "extra.pb.tmp"), os.path.join(protosets, "extra.pb"))
        self.write(host, "return { Echo = function(req) return { text = 'extra ' .. req.text } end }\n",
                   "extra.lua")
        extra = load_stubs("extra.proto", include=protosets)
        stub = extra.ExtraStub(host.channel())
        answer = lambda: rpc(stub.Echo, extra.Ping(text="hi"))[0]  # noqa: E731
        wait_until(lambda: answer() is not None and answer().text == "extra hi", 10,
                   what="the new service to answer")


if __name__ == "__main__":
    unittest.main()
