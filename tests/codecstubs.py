"""Stubs of the codec's test protos (tests/proto), for the test_codec_* files."""

from harness import load_stubs

imported = load_stubs("imported.proto")
types = load_stubs("types.proto")
types2 = load_stubs("types2.proto")
nopkg = load_stubs("nopkg.proto")
wellknown = load_stubs("wellknown.proto")
rt = load_stubs("roundtrip.proto")
