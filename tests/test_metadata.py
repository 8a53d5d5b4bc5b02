"""Request metadata in call.metadata (-bin decoded), set_header, set_trailer, call fields."""

import time
import unittest

import grpc

from harness import HostTestCase, pb, rpc

MR = pb.hosttest.MetadataRequest


class MetadataTest(HostTestCase):
    def setUp(self):
        self.stub = self.host.test_stub()

    def test_request_metadata_echo(self):
        raw = bytes(range(256))
        md = [("x-custom", "value 1"), ("x-other", "two words"),
              ("x-data-bin", raw), ("x-empty-bin", b"")]
        resp, code, details, _ = rpc(self.stub.Metadata, MR(), metadata=md)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        got = dict(resp.metadata)
        self.assertEqual(got.get("x-custom"), b"value 1")
        self.assertEqual(got.get("x-other"), b"two words")
        self.assertEqual(got.get("x-data-bin"), raw, "-bin values arrive as the raw bytes")
        self.assertEqual(got.get("x-empty-bin"), b"")
        for k in got:
            self.assertEqual(k, k.lower())
        for k in got:
            self.assertFalse(k.startswith(":"), "pseudo-header %s in call.metadata" % k)

    def test_header_and_trailer(self):
        req = MR(header_key="x-hdr", header_value=b"h-value",
                 trailer_key="x-trl", trailer_value=b"t-value")
        resp, code, details, trailers, headers = rpc(self.stub.Metadata, req, with_initial=True)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(headers.get("x-hdr"), "h-value")
        self.assertEqual(trailers.get("x-trl"), "t-value")
        self.assertNotIn("x-trl", headers)
        self.assertNotIn("x-hdr", trailers)

    def test_binary_header_and_trailer(self):
        hv, tv = b"\x00\x01\x02\xff", bytes(range(255, -1, -1))
        req = MR(header_key="x-hdr-bin", header_value=hv, trailer_key="x-trl-bin", trailer_value=tv)
        _, code, details, trailers, headers = rpc(self.stub.Metadata, req, with_initial=True)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(headers.get("x-hdr-bin"), hv)
        self.assertEqual(trailers.get("x-trl-bin"), tv)

    def test_info(self):
        md = [("x-fc-request-id", "req-1234-abcd")]
        t0 = time.time()
        resp, code, details, _ = rpc(self.stub.Info, pb.hosttest.Empty(), metadata=md)
        t1 = time.time()
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertEqual(resp.method, "/hosttest.Test/Info")
        self.assertIn("127.0.0.1", resp.peer)
        self.assertTrue(resp.has_request_id)
        self.assertEqual(resp.request_id, "req-1234-abcd")
        self.assertTrue(resp.require_grpc_is_global, 'require "grpc" is not the global grpc')
        self.assertGreater(resp.now, t0 - 5)
        self.assertLess(resp.now, t1 + 5)
        self.assertFalse(resp.cancelled)

    def test_info_without_request_id(self):
        resp, code, details, _ = rpc(self.stub.Info, pb.hosttest.Empty())
        self.assertEqual(code, grpc.StatusCode.OK, details)
        self.assertFalse(resp.has_request_id)

    def test_many_metadata_entries(self):
        md = [("x-k%03d" % i, "v%d" % i) for i in range(100)]
        resp, code, details, _ = rpc(self.stub.Metadata, MR(), metadata=md)
        self.assertEqual(code, grpc.StatusCode.OK, details)
        for k, v in md:
            self.assertEqual(resp.metadata.get(k), v.encode(), k)


if __name__ == "__main__":
    unittest.main()
