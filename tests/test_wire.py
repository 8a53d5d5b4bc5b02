"""What crosses the wire beside plain messages (issue 7): gzip both ways, seen in the frames
themselves; rich errors in grpc-status-details-bin, as grpc-go's status.WithDetails sends them;
TLS with a certificate made for the test."""

import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import grpc

from harness import SOURCE_DIR, Host, HostTestCase, load_stubs, load_stubs_as, rpc

limits = load_stubs("limits.proto")
RPC_PROTOS = os.path.join(SOURCE_DIR, "host", "builtin", "google", "rpc")
rpc_status = load_stubs_as(os.path.join(RPC_PROTOS, "status.proto"), "rpc_status.proto")
details = load_stubs_as(os.path.join(RPC_PROTOS, "error_details.proto"), "rpc_error_details.proto")


def frame(message):
    body = message.SerializeToString()
    return struct.pack(">BI", 0, len(body)) + body


class CompressionTest(HostTestCase):
    def nghttp(self, request, accept, verbose):
        """Echo with nghttp: its frame log with -v, else the response body as it came."""
        tmp = tempfile.mkdtemp(prefix="wire-")
        self.addCleanup(shutil.rmtree, tmp, True)
        body = os.path.join(tmp, "request")
        with open(body, "wb") as f:
            f.write(frame(request))
        return subprocess.run(
            ["nghttp"] + (["-v"] if verbose else []) +
            ["-d", body, "-H", "content-type: application/grpc", "-H", "te: trailers",
             "-H", "grpc-accept-encoding: " + accept,
             "http://127.0.0.1:%d/limits.Limits/Echo" % self.host.port],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, check=True).stdout

    def compressed_flag(self, size, accept):
        """The compressed-flag byte of the reply's one message, after checking grpc-status 0."""
        self.assertIn(b"grpc-status: 0", self.nghttp(limits.Blob(size=size), accept, True))
        return self.nghttp(limits.Blob(size=size), accept, False)[0]

    def test_large_replies_are_gzipped_for_a_client_that_accepts_gzip(self):
        self.assertIn(b"grpc-encoding: gzip", self.nghttp(limits.Blob(size=64 << 10), "gzip", True))
        self.assertEqual(self.compressed_flag(64 << 10, "gzip"), 1)

    def test_small_replies_and_clients_without_gzip_get_plain_bytes(self):
        self.assertEqual(self.compressed_flag(100, "gzip"), 0)
        self.assertEqual(self.compressed_flag(64 << 10, "identity"), 0)
        self.assertNotIn(b"grpc-encoding: gzip", self.nghttp(limits.Blob(size=100), "identity", True))

    def test_gzipped_requests_are_read(self):
        stub = limits.LimitsStub(self.host.channel())
        for compression in (grpc.Compression.Gzip, grpc.Compression.Deflate):
            with self.subTest(compression=compression):
                resp = stub.Echo(limits.Blob(size=5000, data=b"x" * 100000), compression=compression,
                                 timeout=10)
                self.assertEqual(len(resp.data), 5000)


class RichErrorTest(HostTestCase):
    def test_details_reach_the_client(self):
        stub = limits.LimitsStub(self.host.channel())
        violation = details.BadRequest(field_violations=[
            details.BadRequest.FieldViolation(field="name", description="must not be empty")])
        lua = ("grpc.error('INVALID_ARGUMENT', 'bad request', { { type_url = "
               "'type.googleapis.com/google.rpc.BadRequest', value = \"%s\" } })"
               % "".join("\\%d" % b for b in violation.SerializeToString()))
        _, status, message, trailers = rpc(stub.Raise, limits.Probe(code=lua), timeout=10)
        self.assertEqual(status, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(message, "bad request")
        raw = dict(trailers)["grpc-status-details-bin"]
        st = rpc_status.Status.FromString(raw)
        self.assertEqual(st.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual(st.message, "bad request")
        self.assertEqual(len(st.details), 1)
        got = details.BadRequest()
        self.assertTrue(st.details[0].Unpack(got))
        self.assertEqual(got, violation)

    def test_a_bad_detail_is_logged_and_the_status_still_sent(self):
        stub = limits.LimitsStub(self.host.channel())
        mark = self.host.mark()
        _, status, message, trailers = rpc(
            stub.Raise, limits.Probe(code="grpc.error('NOT_FOUND', 'gone', { { nope = 1 } })"), timeout=10)
        self.assertEqual(status, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(message, "gone")
        self.assertNotIn("grpc-status-details-bin", dict(trailers))
        self.host.wait_log("grpc.error details left out", start=mark)


class TlsTest(unittest.TestCase):
    def test_a_call_over_tls(self):
        tmp = tempfile.mkdtemp(prefix="tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        with Host(args=["--tls-cert", cert, "--tls-key", key]) as host:
            self.assertIn("tls=on", host.ready_line)
            with open(cert, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            channel = grpc.secure_channel("localhost:%d" % host.port, creds)
            stub = load_stubs("limits.proto").LimitsStub(channel)
            self.assertEqual(len(stub.Echo(limits.Blob(size=10), timeout=10).data), 10)
            channel.close()


if __name__ == "__main__":
    unittest.main()
