"""Limits, guards and the sandbox (issue 9): a handler that loops, one that allocates without
end, messages over the size limit, and what scripts may not reach. Each gets a status, and the
host goes on serving."""

import os
import tempfile
import time
import unittest

import grpc

from harness import EXAMPLE_PROTOSET, HostTestCase, load_stubs, rpc, run_host_once

pb = load_stubs("limits.proto")


class GuardTest(HostTestCase):
    host_options = {"workers": 1, "args": ["--max-cpu-ms", "300", "--max-memory-mb", "64"]}

    def setUp(self):
        self.stub = pb.LimitsStub(self.host.channel())

    def assertServing(self):
        _, code, details, _ = rpc(self.stub.Ping, pb.Empty(), timeout=5)
        self.assertEqual(code, grpc.StatusCode.OK, details)

    def test_spin_is_stopped_through_pcall(self):
        _, code, details, _ = rpc(self.stub.Spin, pb.Empty(), timeout=30)
        self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED, details)
        self.assertIn("--max-cpu-ms", details)
        self.assertServing()

    def test_spin_in_a_coroutine_is_stopped(self):
        # The watch sets its hook on the handler's own coroutine; those a handler makes count
        # their own instructions, and a resume that catches their stop does not end it.
        for code in ("coroutine.wrap(function() while true do end end)()",
                     "local co = coroutine.create(function() while true do end end)\n"
                     "while true do coroutine.resume(co) end"):
            with self.subTest(code=code):
                _, status, details, _ = rpc(self.stub.Raise, pb.Probe(code=code), timeout=30)
                self.assertEqual(status, grpc.StatusCode.RESOURCE_EXHAUSTED, details)
                self.assertIn("--max-cpu-ms", details)
        self.assertServing()

    def test_other_calls_wait_no_longer_than_the_guard(self):
        spin = self.stub.Spin.future(pb.Empty(), timeout=30)
        started = time.monotonic()
        _, code, details, _ = rpc(self.stub.Ping, pb.Empty(), timeout=10)
        waited = time.monotonic() - started
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertLess(waited, 3.0, "a call waited %.2fs behind a spinning handler" % waited)
        self.assertEqual(spin.exception().code(), grpc.StatusCode.RESOURCE_EXHAUSTED)

    def test_reply_over_the_size_limit(self):
        _, code, details, _ = rpc(self.stub.Echo, pb.Blob(size=5 << 20), timeout=30)
        self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED, details)
        self.assertIn("--max-message-bytes", details)
        self.assertServing()

    def test_a_huge_error_message_is_cut(self):
        _, code, details, _ = rpc(self.stub.Raise, pb.Probe(code="error(string.rep('x', 1 << 20), 0)"),
                                  timeout=30)
        self.assertEqual(code, grpc.StatusCode.UNKNOWN)
        self.assertTrue(details.startswith("x" * 2048), details[:80])
        self.assertTrue(details.endswith("(cut; the host's log has it whole)"), details[-80:])
        self.assertServing()

    def test_request_over_the_size_limit(self):
        _, code, details, _ = rpc(self.stub.Echo, pb.Blob(data=b"r" * (5 << 20)), timeout=30)
        self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED, details)
        self.assertServing()


class MemoryGuardTest(HostTestCase):
    # The CPU guard at its default of 10 s: filling 64 MiB takes longer than 300 ms under ASan.
    host_options = {"workers": 1, "args": ["--max-memory-mb", "64"]}

    def test_hog_runs_out_of_memory(self):
        stub = pb.LimitsStub(self.host.channel())
        _, code, details, _ = rpc(stub.Hog, pb.Empty(), timeout=30)
        self.assertEqual(code, grpc.StatusCode.RESOURCE_EXHAUSTED, details)
        self.host.wait_log(lambda l: "out of memory" in l and "Hog" in l, timeout=10,
                           what="a log line for the Hog call")
        _, code, details, _ = rpc(stub.Ping, pb.Empty(), timeout=5)
        self.assertEqual(code, grpc.StatusCode.OK, details)


class DeadlineGuardTest(HostTestCase):
    host_options = {"workers": 1}  # the CPU guard at its default of 10 s

    def test_spin_stops_at_the_deadline(self):
        stub = pb.LimitsStub(self.host.channel())
        started = time.monotonic()
        _, code, _, _ = rpc(stub.Spin, pb.Empty(), timeout=0.3)
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED)
        _, code, details, _ = rpc(stub.Ping, pb.Empty(), timeout=10)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertLess(time.monotonic() - started, 5.0, "the spinning handler outlived its deadline")

    def test_spin_in_a_coroutine_stops_at_the_deadline(self):
        stub = pb.LimitsStub(self.host.channel())
        spin = "coroutine.wrap(function() while true do end end)()"
        _, code, details, _ = rpc(stub.Raise, pb.Probe(code=spin), timeout=0.3)
        self.assertEqual(code, grpc.StatusCode.DEADLINE_EXCEEDED, details)
        _, code, details, _ = rpc(stub.Ping, pb.Empty(), timeout=10)
        self.assertEqual(code, grpc.StatusCode.OK, details)


class SandboxTest(HostTestCase):
    host_options = {"workers": 1, "extra_scripts": {"helper.lua": "return { answer = 42 }"}}

    def run_lua(self, code):
        stub = pb.LimitsStub(self.host.channel())
        resp, status, details, _ = rpc(stub.Run, pb.Probe(code=code), timeout=10)
        self.assertEqual(status, grpc.StatusCode.OK, details)
        return resp

    def test_dangerous_functions_are_gone(self):
        for expr in ["os.execute", "io.popen", "os.exit", "package.loadlib", "debug"]:
            with self.subTest(expr=expr):
                self.assertEqual(self.run_lua("return " + expr).value, "nil")

    def test_no_c_modules_and_no_debug_library(self):
        r = self.run_lua("return require 'debug'")
        self.assertFalse(r.ok)
        self.assertIn("module 'debug' not found", r.value)

    def test_require_finds_scripts(self):
        self.assertEqual(self.run_lua("return require('helper').answer").value, "42")

    def test_files_only_from_the_scripts_directory(self):
        for code in ["return loadfile('/etc/passwd')", "return dofile('../x.lua')"]:
            with self.subTest(code=code):
                r = self.run_lua(code)
                self.assertFalse(r.ok)
                self.assertIn("inside the scripts directory", r.value)
        self.assertEqual(self.run_lua("return dofile('helper.lua').answer").value, "42")

    def test_no_bytecode(self):
        r = self.run_lua("return load(string.dump(function() return 1 end))")
        self.assertEqual(r.value, "nil")  # load returns nil, "attempt to load a binary chunk"
        r = self.run_lua("return select(2, load(string.dump(function() return 1 end)))")
        self.assertIn("binary chunk", r.value)

    def test_load_keeps_its_env(self):
        self.assertEqual(self.run_lua("return load('return x', 'c', 't', {x = 7})()").value, "7")
        self.assertEqual(self.run_lua("return load('return type(grpc)')()").value, "table")


class LoadGuardTest(unittest.TestCase):
    def test_a_script_that_never_returns_is_refused(self):
        for spin in ("while true do pcall(function() while true do end end) end\n",
                     "while true do pcall(coroutine.wrap(function() while true do end end)) end\n"):
            with self.subTest(spin=spin), tempfile.TemporaryDirectory() as scripts:
                with open(os.path.join(scripts, "spin.lua"), "w") as f:
                    f.write(spin)
                code, out = run_host_once(["--check", "--scripts", scripts, "--max-cpu-ms", "200",
                                           "--protoset", EXAMPLE_PROTOSET])
                self.assertEqual(code, 1, out)
                self.assertIn("--max-cpu-ms while loading", out)


class UnsafeLuaTest(HostTestCase):
    host_options = {"workers": 1, "args": ["--unsafe-lua"]}

    def test_everything_is_there(self):
        stub = pb.LimitsStub(self.host.channel())
        resp, code, details, _ = rpc(stub.Run, pb.Probe(code="return type(os.execute) .. type(debug)"))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.value, "functiontable")


if __name__ == "__main__":
    unittest.main()
