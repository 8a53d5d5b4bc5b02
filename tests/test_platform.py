"""Function Compute conventions beyond the port (tests/test_lifecycle.py, tests/test_package.py):
--max-streams from the platform's instance concurrency, s.yaml, and the mistakes users make when
packaging (no protoset beside bootstrap, scripts that serve nothing)."""

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest

import yaml

from harness import EXAMPLE_PROTOSET, HOST_BIN, SOURCE_DIR, Host, run_host_once

CONCURRENCY_VARS = ("FC_CONCURRENT_LIMIT", "FC_INSTANCE_CONCURRENCY")
HOST_VARS = ("FC_CUSTOM_LISTEN_PORT", "FC_SERVER_PORT", "PORT", "HOST_SCRIPTS", "HOST_PROTOSET")


def server_settings(port, timeout=10):
    """The SETTINGS the host sends on a new HTTP/2 connection, as {id: value}: the frames up to
    the first that sets MAX_CONCURRENT_STREAMS, each acknowledged (the host's own port sends an
    empty one, and gives the connection to gRPC, which sends its own, once it is)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        # The client preface, then an empty SETTINGS frame (length 0, type 4, flags 0, stream 0).
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        buf = b""

        def read(n):
            nonlocal buf
            while len(buf) < n:
                chunk = s.recv(65536)
                if not chunk:
                    raise AssertionError("the host closed the connection before its SETTINGS")
                buf += chunk
            out, buf = buf[:n], buf[n:]
            return out

        settings = {}
        while True:
            head = read(9)
            length = int.from_bytes(head[:3], "big")
            ftype, flags = head[3], head[4]
            payload = read(length)
            if ftype == 4 and not flags & 1:          # SETTINGS, not an ACK
                s.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
                settings.update({struct.unpack_from(">H", payload, i)[0]:
                                 struct.unpack_from(">I", payload, i + 2)[0] for i in range(0, length, 6)})
                if MAX_CONCURRENT_STREAMS in settings:
                    return settings


MAX_CONCURRENT_STREAMS = 3


class MaxStreamsTest(unittest.TestCase):
    """--max-streams defaults to the instance concurrency the platform passes, else 100."""

    def max_streams(self, env, args=()):
        full = {k: "" for k in CONCURRENCY_VARS}          # empty reads as unset
        full.update(env)
        with Host(scripts=os.path.join(SOURCE_DIR, "scripts"), protosets=[EXAMPLE_PROTOSET],
                  workers=1, env=full, args=args) as host:
            return server_settings(host.port).get(MAX_CONCURRENT_STREAMS)

    def test_default_100(self):
        self.assertEqual(self.max_streams({}), 100)

    def test_from_fc_concurrent_limit(self):
        self.assertEqual(self.max_streams({"FC_CONCURRENT_LIMIT": "7"}), 7)

    def test_from_fc_instance_concurrency_and_precedence(self):
        self.assertEqual(self.max_streams({"FC_INSTANCE_CONCURRENCY": "9"}), 9)
        self.assertEqual(self.max_streams({"FC_CONCURRENT_LIMIT": "7", "FC_INSTANCE_CONCURRENCY": "9"}), 7)

    def test_option_over_environment_and_bad_values_ignored(self):
        self.assertEqual(self.max_streams({"FC_CONCURRENT_LIMIT": "7"}, ["--max-streams", "5"]), 5)
        self.assertEqual(self.max_streams({"FC_CONCURRENT_LIMIT": "lots"}), 100)

    def test_help_names_the_variables(self):
        code, out = run_host_once(["--help"])
        self.assertEqual(code, 0, out)
        self.assertIn("FC_CONCURRENT_LIMIT", out)


class ServerlessDevsTest(unittest.TestCase):
    def test_s_yaml(self):
        with open(os.path.join(SOURCE_DIR, "s.yaml")) as f:
            doc = yaml.safe_load(f)
        self.assertEqual(str(doc["edition"]), "1.0.0")
        (svc,) = doc["services"].values()
        self.assertEqual(svc["component"], "fc")
        self.assertIn("./bootstrap.sh package", [a["run"] for a in svc["actions"]["pre-deploy"]])
        fn = svc["props"]["function"]
        self.assertEqual(fn["runtime"], "custom")
        self.assertEqual(fn["caPort"], 8089)
        self.assertEqual(os.path.normpath(fn["codeUri"]), os.path.join("dist", "code.zip"))
        self.assertIsInstance(fn["instanceConcurrency"], int)
        self.assertIsInstance(fn["timeout"], int)
        self.assertEqual(fn["customRuntimeConfig"]["command"], ["./bootstrap"])
        (trigger,) = svc["props"]["triggers"]
        self.assertEqual(trigger["type"], "http")
        self.assertEqual(trigger["config"]["authType"], "anonymous")
        self.assertIn("POST", trigger["config"]["methods"])
        # ... and that is where the package goes.
        with open(os.path.join(SOURCE_DIR, "bootstrap.sh")) as f:
            self.assertIn("mv dist/code.zip.tmp dist/code.zip", f.read())


class PackagingMistakesTest(unittest.TestCase):
    """A package laid out as dist/code.zip is (bootstrap beside protoset.pb and scripts/), with a
    piece wrong, started as the platform does: no arguments, from its own directory."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hostpkgerr-")
        self.bootstrap = os.path.join(self.dir, "bootstrap")
        shutil.copy(HOST_BIN, self.bootstrap)
        self.scripts = os.path.join(self.dir, "scripts")
        os.mkdir(self.scripts)

    def tearDown(self):
        shutil.rmtree(self.dir, True)

    def run_check(self):
        env = {k: v for k, v in os.environ.items() if k not in HOST_VARS}
        r = subprocess.run([self.bootstrap, "--check"], cwd=self.dir, env=env, text=True,
                           errors="replace", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        return r.returncode, r.stdout

    def test_no_protoset_fails_naming_protoset(self):
        shutil.copy(os.path.join(SOURCE_DIR, "scripts", "greeter.lua"), self.scripts)
        code, out = self.run_check()
        self.assertNotEqual(code, 0, out)
        self.assertIn("protoset.pb", out)
        self.assertNotIn("msg=ready", out)

    def test_no_protoset_names_where_it_looked(self):
        # Beside bootstrap, where a package keeps it; not the source tree's build/protoset.pb.
        shutil.copy(os.path.join(SOURCE_DIR, "scripts", "greeter.lua"), self.scripts)
        code, out = self.run_check()
        self.assertIn(os.path.join(self.dir, "protoset.pb"), out)

    def test_script_for_a_service_no_protoset_defines_warns(self):
        shutil.copy(EXAMPLE_PROTOSET, os.path.join(self.dir, "protoset.pb"))
        shutil.copy(os.path.join(SOURCE_DIR, "scripts", "greeter.lua"), self.scripts)
        with open(os.path.join(self.scripts, "billing.lua"), "w") as f:
            f.write("return { Charge = function(req) return {} end }\n")
        code, out = self.run_check()
        self.assertEqual(code, 0, out)
        warn = [l for l in out.splitlines() if "level=warn" in l and "billing.lua" in l]
        self.assertTrue(warn, out)
        self.assertIn("no protoset has a service of that name", warn[0])

    def test_scripts_serving_nothing_warn(self):
        # An empty scripts/: every call would answer UNIMPLEMENTED, and the host says so.
        shutil.copy(EXAMPLE_PROTOSET, os.path.join(self.dir, "protoset.pb"))
        code, out = self.run_check()
        self.assertEqual(code, 0, out)
        self.assertIn("level=warn", out)


if __name__ == "__main__":
    unittest.main()
