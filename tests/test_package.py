"""The Function Compute package: `./bootstrap.sh package` writes dist/code.zip; unzipped into an
empty root that holds nothing else but a static busybox as /bin/sh, `chroot ROOT /bootstrap` with no
arguments serves gRPC, called from outside the root. This proves the package needs nothing from the
machine: no library, no loader, no C library. The root gets the kernel's /proc bound in, as every
Linux (Function Compute included) has one.

Outbound HTTPS from the package: names resolved from the root's /etc/hosts (c-ares, no NSS),
certificates verified against a bundle where Linux distributions keep it, and a clear error in a
root that has none.

Also here, on the packaged binary as the platform runs it: the port variables (FC_SERVER_PORT over
PORT; tests/test_lifecycle.py has FC_CUSTOM_LISTEN_PORT over both and PORT alone), the per-call log
line with x-fc-request-id, and SIGTERM draining a server stream in flight.

Runs once: the sanitizer build skips it (the package is built in build-static/ either way). Needs
root, or unprivileged user namespaces, for chroot; skips with a message otherwise.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import unittest
import uuid

import grpc

from harness import SANITIZED, SOURCE_DIR, Host, pb, rpc
from httpserver import HttpServer, TestCA

ZIP = os.path.join(SOURCE_DIR, "dist", "code.zip")
BUSYBOX = "/bin/busybox"          # Debian's busybox-static
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# The drain test's handler: a server stream slow enough to be in flight when SIGTERM comes.
SLOW_GREETER = """
local M = {}
function M.SayHello(req) return { message = "Hello " .. req.name } end
function M.SayHelloStreamReply(req, call)
  for i = 1, 5 do
    call:send({ message = "Hello " .. req.name .. " #" .. i })
    grpc.sleep(0.2)
  end
end
return M
"""


# A greeter that answers with the body of an HTTP GET of the name.
HTTP_GREETER = """
return { SayHello = function(req) return { message = http.request(req.name).body } end }
"""


def has_interpreter(path):
    """True when the ELF file at path asks for a dynamic loader (a PT_INTERP program header)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            raise AssertionError("%s is not a 64-bit ELF file" % path)
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, = struct.unpack("<I", f.read(4))
            if p_type == 3:
                return True
    return False


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def busy_port():
    """A listening socket on 127.0.0.1 whose port the host must not take; the caller closes it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def namespace_prefix():
    """The command that runs what follows in a private mount namespace where chroot is allowed,
    or None."""
    cmds = [["unshare", "--mount", "--propagation", "private"]] if os.geteuid() == 0 else []
    cmds.append(["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"])
    for cmd in cmds:
        r = subprocess.run(cmd + ["true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            return cmd
    return None


def chroot_command(prefix, root, proc=True, program="/bootstrap", userspec=None):
    """argv that runs ROOT/bootstrap (or program) chrooted into root (with /proc bound in when
    proc, as user:group userspec when given), in the same process: unshare, sh and chroot each
    exec the next, so signals reach the host."""
    mount = 'mount --rbind /proc "$0/proc" && ' if proc else ""
    user = "--userspec=%s " % userspec if userspec else ""
    return prefix + ["/bin/sh", "-c", mount + 'exec chroot %s"$0" %s "$@"' % (user, program), root]


def bootstrap_sh(command):
    """Runs ./bootstrap.sh command; its output, or AssertionError with it when it fails."""
    r = subprocess.run([os.path.join(SOURCE_DIR, "bootstrap.sh"), command], cwd=SOURCE_DIR,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=280)
    if r.returncode != 0:
        raise AssertionError("./bootstrap.sh %s failed:\n%s" % (command, r.stdout[-5000:]))
    return r.stdout


def remove_roots(tmp):
    """Deletes tmp, the roots made in it, unless one still has /proc bound: /proc is bound in a
    private mount namespace that died with its host; never delete through a mount that is
    somehow still visible here."""
    for name in os.listdir(tmp):
        if os.path.ismount(os.path.join(tmp, name, "proc")):
            return
    shutil.rmtree(tmp, True)


class PackagedHost(Host):
    """harness.Host, but the host is ROOT/bootstrap (or program) started in the chroot with no
    arguments, an environment holding only PATH and env, as userspec when given."""

    def __init__(self, root, prefix, env=None, args=(), program="/bootstrap", userspec=None):
        super().__init__(scripts=os.path.join(SOURCE_DIR, "scripts"))
        self.root, self.prefix, self.pkg_env, self.pkg_args = root, prefix, env or {}, list(args)
        self.program, self.userspec = program, userspec

    def command(self):
        env = ["PATH=" + PATH] + ["%s=%s" % kv for kv in self.pkg_env.items()]
        return ["env", "-i"] + env + chroot_command(self.prefix, self.root, program=self.program,
                                                    userspec=self.userspec) + self.pkg_args


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if SANITIZED:
            raise unittest.SkipTest("sanitizer build: the package is tested once, in the plain build")
        for tool in ("zip", "unzip", "unshare", "chroot"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s is missing: ./bootstrap.sh installs it" % tool)
        if not os.path.exists(BUSYBOX):
            raise unittest.SkipTest("%s is missing (Debian's busybox-static)" % BUSYBOX)
        cls.prefix = namespace_prefix()
        if cls.prefix is None:
            raise unittest.SkipTest("cannot chroot here: neither root nor user namespaces")
        # Quick when up to date (about 2 s): cmake finds nothing to do; strip and zip again.
        bootstrap_sh("package")
        cls.tmp = tempfile.mkdtemp(prefix="hostpkg-")
        cls.root = cls.make_root("root")

    @classmethod
    def tearDownClass(cls):
        remove_roots(cls.tmp)

    @classmethod
    def make_root(cls, name, scripts=None, proc=True, files=None):
        """dist/code.zip unzipped into an empty dir, plus busybox as /bin/sh and a /proc mount
        point; scripts: {"name.lua": text} to write over the package's; files: {"etc/hosts":
        text} to add."""
        root = os.path.join(cls.tmp, name)
        os.mkdir(root)
        subprocess.run(["unzip", "-q", ZIP, "-d", root], check=True)
        os.makedirs(os.path.join(root, "bin"))
        shutil.copy(BUSYBOX, os.path.join(root, "bin", "sh"))
        if proc:
            os.mkdir(os.path.join(root, "proc"))
        for fname, text in (scripts or {}).items():
            with open(os.path.join(root, "scripts", fname), "w") as f:
                f.write(text)
        for path, text in (files or {}).items():
            os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        return root

    def greet(self, target, name="world", metadata=None):
        with grpc.insecure_channel(target) as ch:
            stub = pb.helloworld_grpc.GreeterStub(ch)
            resp, code, details, _ = rpc(stub.SayHello, pb.helloworld.HelloRequest(name=name),
                                         timeout=10, metadata=metadata)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        return resp.message

    # --- the package itself ----------------------------------------------------------
    def test_zip_holds_the_three_things_and_a_static_host(self):
        r = subprocess.run(["unzip", "-Z1", ZIP], stdout=subprocess.PIPE, text=True, check=True)
        names = set(r.stdout.split())
        self.assertIn("bootstrap", names)
        self.assertIn("protoset.pb", names)
        self.assertIn("scripts/greeter.lua", names)
        self.assertEqual({n.split("/")[0] for n in names}, {"bootstrap", "protoset.pb", "scripts"})
        bootstrap = os.path.join(self.root, "bootstrap")
        self.assertTrue(os.access(bootstrap, os.X_OK), "bootstrap lost its x bit in the zip")
        self.assertFalse(has_interpreter(bootstrap), "bootstrap needs a dynamic loader")
        self.assertEqual(sorted(os.listdir(self.root)),
                         ["bin", "bootstrap", "proc", "protoset.pb", "scripts"])
        # The chroot works at all: busybox, alone, runs in it.
        r = subprocess.run(self.prefix + ["chroot", self.root, "/bin/sh", "-c", "echo inside"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.stdout.strip(), "inside", r.stdout)

    # --- serving, as the platform starts it --------------------------------------------
    def test_no_arguments_serves_on_8089(self):
        if not port_free(8089):
            self.skipTest("port 8089 is busy on this machine (a host running?): the no-argument "
                          "default is not checked; the tests with FC_CUSTOM_LISTEN_PORT still run")
        with PackagedHost(self.root, self.prefix) as host:
            self.assertIn("address=0.0.0.0", host.ready_line)
            self.assertEqual(host.port, 8089, host.ready_line)
            self.assertIn("helloworld.Greeter", host.ready_line)
            self.assertEqual(self.greet("127.0.0.1:8089"), "Hello world")
            self.assertEqual(host.stop(), 0, host.output())

    def test_fc_custom_listen_port_and_request_id_in_the_call_log(self):
        busy = busy_port()
        try:
            other = str(busy.getsockname()[1])
            env = {"FC_CUSTOM_LISTEN_PORT": "0", "FC_SERVER_PORT": other, "PORT": other}
            with PackagedHost(self.root, self.prefix, env) as host:
                rid = "req-" + uuid.uuid4().hex
                mark = host.mark()
                self.assertEqual(self.greet(host.target, "fc", [("x-fc-request-id", rid)]),
                                 "Hello fc")
                line = host.wait_log("request_id=" + rid, start=mark)
                self.assertIn("msg=call", line)
                self.assertIn("method=/helloworld.Greeter/SayHello", line)
                self.assertIn("status=OK", line)
                for key in ("duration_ms=", "bytes_in=", "bytes_out="):
                    self.assertIn(key, line)
        finally:
            busy.close()

    def test_fc_server_port_over_PORT(self):
        busy = busy_port()
        try:
            env = {"FC_SERVER_PORT": "0", "PORT": str(busy.getsockname()[1])}
            with PackagedHost(self.root, self.prefix, env) as host:
                self.assertNotEqual(host.port, busy.getsockname()[1])
                self.assertEqual(self.greet(host.target), "Hello world")
        finally:
            busy.close()

    def test_sigterm_drains_a_stream_in_flight(self):
        root = self.make_root("slow", scripts={"greeter.lua": SLOW_GREETER})
        with PackagedHost(root, self.prefix, {"FC_CUSTOM_LISTEN_PORT": "0"}) as host:
            with grpc.insecure_channel(host.target) as ch:
                stub = pb.helloworld_grpc.GreeterStub(ch)
                stream = stub.SayHelloStreamReply(pb.helloworld.HelloRequest(name="drain"),
                                                  timeout=30)
                got = [next(stream).message]             # in flight now
                host.send_signal(signal.SIGTERM)
                got += [m.message for m in stream]
                self.assertEqual(stream.code(), grpc.StatusCode.OK, stream.details())
            self.assertEqual(got, ["Hello drain #%d" % i for i in range(1, 6)])
            self.assertEqual(host.stop(), 0, host.output())
            self.assertIn("msg=stopped", host.output())

    # --- outbound HTTPS from the empty root ----------------------------------------------
    def test_https_with_the_roots_of_the_platform(self):
        ca = TestCA(self.tmp)
        with open(ca.ca_cert) as f:
            bundle = f.read()
        hosts = {"etc/hosts": "127.0.0.1 localhost\n"}
        scripts = {"greeter.lua": HTTP_GREETER}
        with HttpServer(tls=ca) as srv:
            root = self.make_root("https", scripts=scripts,
                                  files=dict(hosts, **{"etc/ssl/certs/ca-certificates.crt": bundle}))
            with PackagedHost(root, self.prefix, {"FC_CUSTOM_LISTEN_PORT": "0"}) as host:
                self.assertIn('"host": "localhost:%d"' % srv.port, self.greet(host.target, srv.origin + "/echo"))
            bare = self.make_root("https-no-roots", scripts=scripts, files=hosts)
            with PackagedHost(bare, self.prefix, {"FC_CUSTOM_LISTEN_PORT": "0"}) as host:
                with grpc.insecure_channel(host.target) as ch:
                    stub = pb.helloworld_grpc.GreeterStub(ch)
                    _, code, details, _ = rpc(stub.SayHello, pb.helloworld.HelloRequest(name=srv.origin),
                                              timeout=10)
                self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
                self.assertIn("TLS: no CA certificates on this machine", details)

    # --- what the host needs from the machine: not even /proc ---------------------------
    def test_serves_without_proc(self):
        # Without /proc/self/exe the host finds protoset.pb and scripts/ from argv[0].
        root = self.make_root("noproc", proc=False)
        cmd = ["env", "-i", "PATH=" + PATH, "FC_CUSTOM_LISTEN_PORT=0"] + chroot_command(
            self.prefix, root, proc=False) + ["--check"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout)


if __name__ == "__main__":
    unittest.main()
