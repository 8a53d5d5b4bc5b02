"""End-to-end test harness: starts the real host over a real socket, talks gRPC to it.

Environment (set by tests/CMakeLists.txt; defaults suit a manual run from the repo):
  HOST_BIN        the host binary                 (default: $HOST_BUILD_DIR/host)
  HOST_BUILD_DIR  the cmake build directory       (default: <repo>/build)
  HOST_SOURCE_DIR the repository root             (default: parent of tests/)
  TEST_PROTOSET   descriptor set of tests/proto/  (default: $HOST_BUILD_DIR/tests/test_protoset.pb)

Usage:
    from harness import Host, pb, rpc
    with Host() as host:
        stub = pb.hosttest_grpc.TestStub(host.channel())
        resp, code, details, trailers = rpc(stub.Echo, pb.hosttest.EchoRequest(text="x"))
"""

import atexit
import os
import re
import shutil
import importlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest

import grpc

SOURCE_DIR = os.environ.get("HOST_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
BUILD_DIR = os.environ.get("HOST_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
HOST_BIN = os.environ.get("HOST_BIN") or os.path.join(BUILD_DIR, "host")
EXAMPLE_PROTOSET = os.path.join(BUILD_DIR, "protoset.pb")
TEST_PROTOSET = os.environ.get("TEST_PROTOSET") or os.path.join(
    BUILD_DIR, "tests", "test_protoset.pb")
TESTS_DIR = os.path.join(SOURCE_DIR, "tests")
HOSTTEST_LUA = os.path.join(TESTS_DIR, "scripts", "hosttest.lua")

READY_TIMEOUT = 30.0   # seconds for the host to print its ready line
EXIT_TIMEOUT = 30.0    # seconds for the host to exit after SIGTERM
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "ThreadSanitizer", "MemorySanitizer")


def _gen_stubs():
    """protoc the example and test protos into a temp dir once; returns a namespace."""
    out = tempfile.mkdtemp(prefix="hoststubs-")
    atexit.register(shutil.rmtree, out, True)
    plugin = shutil.which("grpc_python_plugin")
    if not plugin:
        raise RuntimeError("grpc_python_plugin not found (Debian package protobuf-compiler-grpc)")
    protos = [
        (os.path.join(SOURCE_DIR, "proto"), "helloworld.proto"),
        (os.path.join(TESTS_DIR, "proto"), "hosttest.proto"),
    ]
    for inc, name in protos:
        cmd = ["protoc", "-I" + inc, "--python_out=" + out, "--grpc_python_out=" + out,
               "--plugin=protoc-gen-grpc_python=" + plugin, os.path.join(inc, name)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError("protoc failed: %s\n%s" % (" ".join(cmd), r.stdout))
    sys.path.insert(0, out)
    import helloworld_pb2, helloworld_pb2_grpc, hosttest_pb2, hosttest_pb2_grpc  # noqa: E401
    return types.SimpleNamespace(helloworld=helloworld_pb2, helloworld_grpc=helloworld_pb2_grpc,
                                 hosttest=hosttest_pb2, hosttest_grpc=hosttest_pb2_grpc)


pb = _gen_stubs()


def load_stubs(name, include=os.path.join(TESTS_DIR, "proto")):
    """Stubs of one more proto (tests/proto/NAME by default): messages and stubs in one namespace."""
    out = os.path.dirname(pb.helloworld.__file__)
    plugin = shutil.which("grpc_python_plugin")
    cmd = ["protoc", "-I" + include, "--python_out=" + out, "--grpc_python_out=" + out,
           "--plugin=protoc-gen-grpc_python=" + plugin, os.path.join(include, name)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("protoc failed: %s\n%s" % (" ".join(cmd), r.stdout))
    module = name[:-len(".proto")].replace("/", ".")
    ns = types.SimpleNamespace()
    for m in (importlib.import_module(module + "_pb2"), importlib.import_module(module + "_pb2_grpc")):
        ns.__dict__.update({k: v for k, v in vars(m).items() if not k.startswith("_")})
    return ns


def load_stubs_as(path, as_name):
    """Stubs of the proto at path under a module name of its own: for protos whose package
    path (grpc.*, google.*) would clash with an installed Python package."""
    tmp = tempfile.mkdtemp(prefix="stubs-")
    shutil.copy(path, os.path.join(tmp, as_name))
    try:
        return load_stubs(as_name, include=tmp)
    finally:
        shutil.rmtree(tmp, True)


def make_pki(directory, name="localhost"):
    """A test CA and, signed by it, a certificate for name and 127.0.0.1 (a server's) and one for
    a client: PEM files in directory. Returns a namespace of paths: ca, cert, key, client_cert,
    client_key."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

    p = types.SimpleNamespace(**{k: os.path.join(directory, k + ".pem") for k in
                                 ("ca", "ca_key", "cert", "key", "client_cert", "client_key")})
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-days", "2", "-subj", "/CN=host test CA", "-keyout", p.ca_key,
        "-out", p.ca, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for cert, key, cn, ext in ((p.cert, p.key, name, "subjectAltName=DNS:%s,IP:127.0.0.1" % name),
                               (p.client_cert, p.client_key, "client", "extendedKeyUsage=clientAuth")):
        csr, extfile = cert + ".csr", cert + ".ext"
        with open(extfile, "w") as f:
            f.write(ext + "\n")
        run("req", *ec, "-subj", "/CN=" + cn, "-keyout", key, "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", p.ca, "-CAkey", p.ca_key, "-CAcreateserial",
            "-days", "2", "-out", cert, "-extfile", extfile)
    return p


def _sanitized():
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            return any(line.strip() == "SANITIZE:BOOL=ON" for line in f)
    except OSError:
        return False


# The host under test runs under ASan: its allocator keeps freed memory, so RSS is no guide
# (LeakSanitizer checks for leaks at exit instead).
SANITIZED = _sanitized()


def rss_kb(pid):
    """Resident memory of process pid, in kB."""
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def thread_stacks(pid):
    """Every thread's stack of process pid, by gdb, for the message of a host that hangs."""
    if shutil.which("gdb") is None:
        return "(no gdb to show where the host's threads are)"
    try:
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           text=True, errors="replace", timeout=120)
    except subprocess.TimeoutExpired:
        return "(gdb did not finish within 120s)"
    return r.stdout


def marked_line(path, mark):
    """1-based number of the line of `path` holding `-- MARK: mark`."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if "MARK: " + mark in line:
                return n
    raise AssertionError("no line marked %r in %s" % (mark, path))


def rpc(method, request, timeout=30, metadata=None, with_initial=False):
    """Calls a unary-response stub method. Returns (response, code, details, trailing
    metadata as a dict) or, with_initial, (..., initial metadata as a dict). response is None
    when the call failed."""
    try:
        resp, call = method.with_call(request, timeout=timeout, metadata=metadata)
    except grpc.RpcError as e:
        out = (None, e.code(), e.details(), dict(e.trailing_metadata() or ()))
        return out + (dict(e.initial_metadata() or ()),) if with_initial else out
    out = (resp, call.code(), call.details(), dict(call.trailing_metadata() or ()))
    return out + (dict(call.initial_metadata() or ()),) if with_initial else out


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value or timeout passes (then raises)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, what, v))
        time.sleep(interval)


class HostError(AssertionError):
    pass


class Host:
    """The host as a child process, serving a temp copy of the scripts.

    scripts: a dir whose *.lua are served instead of scripts/ + tests/scripts/.
    extra_scripts: {"name.lua": "source"} added to the temp scripts dir.
    protosets: list of descriptor sets (default: the example's and the tests').
    """

    def __init__(self, scripts=None, extra_scripts=None, protosets=None, workers=2,
                 args=(), env=None, expect_exit=0, watch=False, argv=None):
        self.workers = workers
        self.watch = watch
        self.argv = argv
        self.args = list(args)
        self.protosets = protosets or [EXAMPLE_PROTOSET, TEST_PROTOSET]
        self.expect_exit = expect_exit
        self.env = env
        self.tmp = tempfile.mkdtemp(prefix="hosttest-")
        self.scripts_dir = os.path.join(self.tmp, "scripts")
        os.mkdir(self.scripts_dir)
        srcs = [scripts] if scripts else [os.path.join(SOURCE_DIR, "scripts"),
                                          os.path.join(TESTS_DIR, "scripts")]
        for d in srcs:
            for name in sorted(os.listdir(d)):
                if name.endswith(".lua"):
                    shutil.copy(os.path.join(d, name), self.scripts_dir)
        for name, text in (extra_scripts or {}).items():
            with open(os.path.join(self.scripts_dir, name), "w") as f:
                f.write(text)
        self.proc = None
        self.port = None
        self.ready_line = None
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self._channels = []
        self.returncode = None
        self.signalled = False

    # --- lifecycle -------------------------------------------------------------------
    def command(self):
        if self.argv is not None:  # everything but the binary, as given
            return [HOST_BIN] + list(self.argv)
        cmd = [HOST_BIN, "--address", "127.0.0.1", "--port", "0", "--scripts", self.scripts_dir,
               "--workers", str(self.workers)]
        if not self.watch:
            cmd.append("--no-watch")
        for p in self.protosets:
            cmd += ["--protoset", p]
        return cmd + self.args

    def start(self):
        for f in [HOST_BIN] + self.protosets:
            if not os.path.exists(f):
                raise HostError("missing %s (build first: cmake --build build)" % f)
        env = dict(os.environ)
        env.update(self.env or {})
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, text=True, errors="replace", bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            self.ready_line = self.wait_log(lambda l: re.search(r'\bmsg=ready\b|"msg":"ready"', l),
                                            READY_TIMEOUT,
                                            what="the ready line")
        except AssertionError:
            self._kill()
            raise HostError("host did not get ready; command %s\noutput:\n%s"
                            % (" ".join(self.command()), self.output()))
        m = re.search(r'\bport=(\d+)|"port":(\d+)', self.ready_line)
        if not m:
            self._kill()
            raise HostError("no port=N in the ready line: %r" % self.ready_line)
        self.port = int(m.group(1) or m.group(2))
        return self

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        self.proc.stdout.close()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)

    def send_signal(self, sig):
        """Sends sig to the host (without waiting). A SIGTERM/SIGINT sent this way is the
        one stop() waits on."""
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.signalled = True
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=EXIT_TIMEOUT):
        """Signals the host (unless send_signal() did already), waits for its exit; returns the
        exit code."""
        for ch in self._channels:
            ch.close()
        self._channels = []
        if self.proc.poll() is None and not self.signalled:
            self.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stacks = thread_stacks(self.proc.pid)
            self._kill()
            raise HostError("host did not exit within %.0fs of signal %s; output:\n%s\nits threads:\n%s"
                            % (timeout, sig, self.output(), stacks))
        self._reader.join(10)
        return self.returncode

    def check_output_clean(self):
        out = self.output()
        for mark in SANITIZER_MARKS:
            if mark in out:
                raise HostError("sanitizer report (%s) in the host output:\n%s" % (mark, out))

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            shutil.rmtree(self.tmp, True)
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.proc.poll() is None:
                code = self.stop()
            else:
                self._reader.join(10)
                code = self.returncode = self.proc.returncode
            if exc_type is None:
                if self.expect_exit is not None and code != self.expect_exit:
                    raise HostError("host exited with %s (expected %s); output:\n%s"
                                    % (code, self.expect_exit, self.output()))
                self.check_output_clean()
            elif code != 0 or any(m in self.output() for m in SANITIZER_MARKS):
                # The test failed already; show what the host said.
                sys.stderr.write("host exited with %s; output:\n%s\n" % (code, self.output()))
        finally:
            shutil.rmtree(self.tmp, True)
        return False

    # --- clients ---------------------------------------------------------------------
    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def channel(self, options=(), own_connection=False):
        """An insecure channel to the host. own_connection: its own TCP connection
        (grpc python shares subchannels between channels with equal arguments)."""
        opts = list(options)
        if own_connection:
            opts.append(("grpc.use_local_subchannel_pool", 1))
        ch = grpc.insecure_channel(self.target, options=opts)
        grpc.channel_ready_future(ch).result(timeout=READY_TIMEOUT)
        self._channels.append(ch)
        return ch

    def test_stub(self, **kw):
        return pb.hosttest_grpc.TestStub(self.channel(**kw))

    def greeter_stub(self, **kw):
        return pb.helloworld_grpc.GreeterStub(self.channel(**kw))

    # --- logs ------------------------------------------------------------------------
    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_log(self, predicate, timeout=10.0, start=0, what="a log line"):
        """Waits for a line (from index start on) that satisfies predicate(line) or
        contains it (a str); returns the line. Raises AssertionError on timeout or EOF."""
        if isinstance(predicate, str):
            text = predicate
            predicate = lambda l: text in l  # noqa: E731
            what = "a log line containing %r" % text
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    if predicate(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    raise AssertionError("%s %s; output:\n%s" % (
                        "host exited without" if self.eof else "timed out waiting for",
                        what, "\n".join(self.lines)))
                self.cond.wait(left)

    def mark(self):
        """Index of the next log line: pass as wait_log(start=...)."""
        with self.cond:
            return len(self.lines)


def run_host_once(args, timeout=30.0, env=None):
    """Runs HOST_BIN with args to completion (for --check and start-up errors).
    Returns (exit code, combined output)."""
    e = dict(os.environ)
    e.update(env or {})
    try:
        r = subprocess.run([HOST_BIN] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                           errors="replace", timeout=timeout, env=e)
    except subprocess.TimeoutExpired as ex:
        raise AssertionError("host %s still running after %.0fs; output:\n%s"
                             % (args, timeout, ex.stdout))
    return r.returncode, r.stdout


class HostTestCase(unittest.TestCase):
    """One host for the whole class, started with host_options; every test checks the host
    is still running afterwards, and the class fails if it does not exit 0 cleanly."""
    host_options = {}

    @classmethod
    def setUpClass(cls):
        cls.host = Host(**cls.host_options)
        cls.host.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.host.__exit__(None, None, None)

    def run(self, result=None):
        # The host's warnings and errors during a test that failed go with its report: the
        # host may have ended a connection or a call for a reason only its log gives.
        start = self.host.mark()
        result = super().run(result)
        if result is not None and any(t is self for t, _ in result.errors + result.failures):
            warning = re.compile(r"level=(warn|error)|\"level\":\"(warn|error)")
            with self.host.cond:
                lines = [l for l in self.host.lines[start:] if warning.search(l)]
            if lines:
                sys.stderr.write("the host's warnings during %s:\n%s\n" % (self.id(), "\n".join(lines)))
        return result

    def tearDown(self):
        if self.host.proc.poll() is not None:
            self.fail("the host died (exit %s); output:\n%s"
                      % (self.host.proc.returncode, self.host.output()))

    def assertServing(self, stub=None):
        """The host still answers a plain unary call."""
        stub = stub or self.host.test_stub()
        resp, code, details, _ = rpc(stub.Echo, pb.hosttest.EchoRequest(text="still here"))
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.text, "still here")
