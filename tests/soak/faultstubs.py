"""Python stubs of tests/proto/faults.proto, generated once per process into a temp dir.

    from faultstubs import faults_pb2, faults_pb2_grpc
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(os.environ.get("HOST_SOURCE_DIR") or os.path.dirname(TESTS_DIR),
                         "tests", "proto")


def _generate():
    out = tempfile.mkdtemp(prefix="faultstubs-")
    atexit.register(shutil.rmtree, out, True)
    plugin = shutil.which("grpc_python_plugin")
    if not plugin:
        raise RuntimeError("grpc_python_plugin not found (Debian package protobuf-compiler-grpc)")
    cmd = ["protoc", "-I" + PROTO_DIR, "--python_out=" + out, "--grpc_python_out=" + out,
           "--plugin=protoc-gen-grpc_python=" + plugin, os.path.join(PROTO_DIR, "faults.proto")]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("protoc failed: %s\n%s" % (" ".join(cmd), r.stdout))
    sys.path.insert(0, out)


_generate()
import faults_pb2, faults_pb2_grpc  # noqa: E401,E402
__all__ = ["faults_pb2", "faults_pb2_grpc"]
