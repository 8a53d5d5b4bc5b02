"""Start-up, the ready line, configuration from the environment, start-up errors, --check,
and stopping on SIGTERM/SIGINT with calls in flight."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

import grpc

from harness import (EXAMPLE_PROTOSET, HOST_BIN, SOURCE_DIR, TEST_PROTOSET, TESTS_DIR, Host, pb, rpc,
                     run_host_once, thread_stacks, wait_until)

ENV_VARS = ("FC_CUSTOM_LISTEN_PORT", "FC_SERVER_PORT", "PORT", "HOST_SCRIPTS", "HOST_PROTOSET")
BROKEN_LUA = "local M = {}\n\nfunction M.SayHello(req, call)\n  return { message = \n\nreturn M\n"


def clean_env(**kw):
    """The environment without the host's variables, plus kw."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env.update(kw)
    return env


def scripts_dir(tmp, extra=None):
    d = os.path.join(tmp, "scripts")
    os.makedirs(d, exist_ok=True)
    for src in (os.path.join(SOURCE_DIR, "scripts"), os.path.join(TESTS_DIR, "scripts")):
        for name in os.listdir(src):
            if name.endswith(".lua"):
                shutil.copy(os.path.join(src, name), d)
    for name, text in (extra or {}).items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hostlife-")

    def tearDown(self):
        shutil.rmtree(self.tmp, True)

    def greet(self, host, name="world"):
        resp, code, details, _ = rpc(host.greeter_stub().SayHello, pb.helloworld.HelloRequest(name=name))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        return resp.message

    # --- running ----------------------------------------------------------------------
    def test_ready_line(self):
        with Host(workers=2) as host:
            line = host.ready_line
            self.assertTrue(line.startswith("ts="), line)
            self.assertIn("level=info", line)
            self.assertIn("127.0.0.1", line)
            self.assertIn("helloworld.Greeter", line)
            self.assertIn("hosttest.Test", line)
            self.assertIn("workers=2", line)
            self.assertEqual(self.greet(host), "Hello world")

    def test_sigterm_lets_calls_in_flight_finish(self):
        with Host(workers=1) as host:
            stub = host.test_stub()
            tag = uuid.uuid4().hex
            fut = stub.Sleep.future(pb.hosttest.SleepRequest(seconds=1.0, tag=tag), timeout=30)
            wait_until(lambda: stub.Stopped(pb.hosttest.StopRequest(tag=tag), timeout=10).started == 1,
                       10, what="the Sleep handler to start")
            host.send_signal(signal.SIGTERM)
            resp = fut.result(timeout=30)
            self.assertGreaterEqual(resp.slept, 0.95)
            self.assertEqual(host.stop(), 0, host.output())

    def test_sigint_exits_0(self):
        with Host() as host:
            self.assertEqual(self.greet(host), "Hello world")
            self.assertEqual(host.stop(signal.SIGINT), 0, host.output())

    def test_sigterm_when_idle_exits_promptly(self):
        with Host() as host:
            self.assertEqual(self.greet(host), "Hello world")
            t0 = time.monotonic()
            self.assertEqual(host.stop(), 0, host.output())
            self.assertLess(time.monotonic() - t0, 5, "an idle host took long to stop")

    def test_sigterm_as_the_workers_start_exits(self):
        # The signal waits in the signalfd while the scripts load (their warning says they have),
        # so the stop begins as the workers post their first request slots to gRPC. A slot posted
        # while the server shuts down could be lost, and the worker wait for it for ever.
        scripts = scripts_dir(self.tmp, {"stray.lua": "return {}\n"})
        for _ in range(25):
            proc = subprocess.Popen([HOST_BIN] + self.base_args(scripts=scripts) + ["--workers", "2"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace", env=clean_env())
            with proc:
                self.assertIn("script serves no service", proc.stdout.readline())
                proc.send_signal(signal.SIGTERM)
                try:
                    out = proc.communicate(timeout=30)[0]
                except subprocess.TimeoutExpired:
                    stacks = thread_stacks(proc.pid)
                    proc.kill()
                    self.fail("the host did not stop; its threads:\n" + stacks)
                self.assertEqual(proc.returncode, 0, out)
                self.assertIn("msg=stopped", out)

    def test_configuration_from_environment(self):
        # FC_CUSTOM_LISTEN_PORT wins over FC_SERVER_PORT and PORT (both busy here);
        # HOST_PROTOSET may be a directory of *.pb.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = str(busy.getsockname()[1])
        psdir = os.path.join(self.tmp, "protosets")
        os.mkdir(psdir)
        shutil.copy(EXAMPLE_PROTOSET, os.path.join(psdir, "example.pb"))
        shutil.copy(TEST_PROTOSET, os.path.join(psdir, "tests.pb"))
        env = clean_env(FC_CUSTOM_LISTEN_PORT="0", FC_SERVER_PORT=busy_port, PORT=busy_port,
                        HOST_SCRIPTS=scripts_dir(self.tmp), HOST_PROTOSET=psdir)
        try:
            with Host(argv=["--workers", "1", "--no-watch"], env=env) as host:
                self.assertNotEqual(host.port, int(busy_port))
                self.assertEqual(self.greet(host, "env"), "Hello env")
                resp, code, details, _ = rpc(host.test_stub().Echo, pb.hosttest.EchoRequest(text="e"))
                self.assertEqual(code, grpc.StatusCode.OK, details)
        finally:
            busy.close()

    def test_port_from_PORT(self):
        env = clean_env(PORT="0")
        argv = ["--address", "127.0.0.1", "--scripts", scripts_dir(self.tmp), "--no-watch",
                "--protoset", EXAMPLE_PROTOSET, "--protoset", TEST_PROTOSET, "--workers", "1"]
        with Host(argv=argv, env=env) as host:
            self.assertEqual(self.greet(host), "Hello world")

    def test_scripts_require_modules(self):
        d = os.path.join(self.tmp, "own")
        os.mkdir(d)
        with open(os.path.join(d, "words.lua"), "w") as f:
            f.write("return { greet = function(n) return 'Howdy ' .. n end }\n")
        with open(os.path.join(d, "greeter.lua"), "w") as f:
            f.write("local words = require 'words'\n"
                    "return { SayHello = function(req) return { message = words.greet(req.name) } end }\n")
        with Host(scripts=d) as host:
            self.assertEqual(self.greet(host, "partner"), "Howdy partner")

    # --- start-up errors and --check ---------------------------------------------------
    def base_args(self, scripts=None, protosets=(EXAMPLE_PROTOSET, TEST_PROTOSET)):
        args = ["--address", "127.0.0.1", "--port", "0", "--no-watch", "--workers", "1",
                "--scripts", scripts or scripts_dir(self.tmp)]
        for p in protosets:
            args += ["--protoset", p]
        return args

    def test_check_ok(self):
        code, out = run_host_once(self.base_args() + ["--check"], env=clean_env())
        self.assertEqual(code, 0, out)
        self.assertIn("hosttest.Test", out)
        self.assertIn("helloworld.Greeter", out)

    def test_check_syntax_error(self):
        d = scripts_dir(self.tmp, {"greeter.lua": BROKEN_LUA})
        code, out = run_host_once(self.base_args(scripts=d) + ["--check"], env=clean_env())
        self.assertEqual(code, 1, out)
        self.assertRegex(out, r"greeter\.lua:[56]\b")

    def test_check_names_every_broken_script(self):
        d = scripts_dir(self.tmp, {"greeter.lua": BROKEN_LUA, "zz_boom.lua": "error('boom')\n",
                                   "aa_stray.lua": "return { service = 'no.Such' }\n"})
        code, out = run_host_once(self.base_args(scripts=d) + ["--check"], env=clean_env())
        self.assertEqual(code, 1, out)
        self.assertRegex(out, r"greeter\.lua:[56]\b")
        self.assertIn("zz_boom.lua:1: boom", out)
        self.assertRegex(out, r"level=warn .*no protoset has the service it names.*aa_stray\.lua")

    def test_json_logs(self):
        proc = subprocess.Popen([HOST_BIN, "--log-format", "json"] + self.base_args(),
                                stdout=subprocess.PIPE, text=True, env=clean_env())
        try:
            ready = json.loads(proc.stdout.readline())
            self.assertEqual((ready["level"], ready["msg"]), ("info", "ready"))
            channel = grpc.insecure_channel("127.0.0.1:%s" % ready["port"])
            stub = pb.helloworld_grpc.GreeterStub(channel)
            stub.SayHello(pb.helloworld.HelloRequest(name="j"), metadata=[("x-fc-request-id", "r-1")])
            channel.close()
            record = json.loads(proc.stdout.readline())
            self.assertEqual(record["msg"], "call")
            self.assertEqual(record["method"], "/helloworld.Greeter/SayHello")
            self.assertEqual(record["status"], "OK")
            self.assertEqual(record["request_id"], "r-1")
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(30), 0)
            proc.stdout.close()

    def test_missing_protoset(self):
        missing = os.path.join(self.tmp, "no-such.pb")
        for extra in (["--check"], []):
            code, out = run_host_once(self.base_args(protosets=[missing]) + extra, timeout=20,
                                      env=clean_env())
            self.assertNotEqual(code, 0, out)
            self.assertIn("no-such.pb", out)
            self.assertNotIn("msg=ready", out)

    def test_corrupt_protoset(self):
        bad = os.path.join(self.tmp, "corrupt.pb")
        with open(bad, "wb") as f:
            f.write(b"\x0a\xff\xff\xff\x0fthis is not a descriptor set" * 10)
        for extra in (["--check"], []):
            code, out = run_host_once(self.base_args(protosets=[bad]) + extra, timeout=20,
                                      env=clean_env())
            self.assertNotEqual(code, 0, out)
            self.assertIn("corrupt.pb", out)
            self.assertNotIn("msg=ready", out)

    def test_busy_port(self):
        busy = socket.socket()
        try:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            args = self.base_args()
            args[args.index("--port") + 1] = str(port)
            code, out = run_host_once(args, timeout=20, env=clean_env())
            self.assertNotEqual(code, 0, out)
            # The host's own line is the only one: the gRPC core's reason is in it.
            lines = out.strip().splitlines()
            self.assertEqual(len(lines), 1, out)
            self.assertIn("level=error", lines[0])
            self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use" % port, lines[0])
        finally:
            busy.close()

    def test_grpc_core_lines_are_host_records(self):
        with Host(env={"GRPC_VERBOSITY": "debug"}) as host:
            self.assertEqual(self.greet(host), "Hello world")
        lines = host.output().splitlines()
        self.assertTrue(any('level=info msg="grpc core" source=' in line for line in lines), lines[:5])
        for line in lines:
            self.assertTrue(line.startswith("ts="), line)

    def test_port_busy_with_another_host(self):
        # gRPC sets SO_REUSEPORT by default: a second host must still refuse the port.
        with Host() as first:
            args = self.base_args()
            args[args.index("--port") + 1] = str(first.port)
            code, out = run_host_once(args, timeout=20, env=clean_env())
            self.assertNotEqual(code, 0, "a second host started on the same port:\n" + out)
            self.assertEqual(self.greet(first), "Hello world")


if __name__ == "__main__":
    unittest.main()
