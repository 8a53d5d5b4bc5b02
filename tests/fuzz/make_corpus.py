#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets to tests/fuzz/corpus/<target>/.

    /usr/bin/python3 tests/fuzz/make_corpus.py [BUILD_DIR]   (default: build)

Needs the build's descriptor sets (build/tests/test_protoset.pb, build/protoset.pb) and
python3-protobuf. The files are checked in; run this again after changing tests/proto/.
A decode/roundtrip/encode input starts with "=full.Name\n", the message type (fuzz_pick in
fuzz_common.c), so the seeds stay what they are when protos are added.
"""

import hashlib
import os
import random
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SOURCE_DIR, "build"))
SETS = [os.path.join(BUILD, "tests", "test_protoset.pb"), os.path.join(BUILD, "protoset.pb")]
CORPUS = os.path.join(HERE, "corpus")


def load():
    pool = descriptor_pool.DescriptorPool()
    names = set()
    seen = set()
    for path in SETS:
        fds = descriptor_pb2.FileDescriptorSet.FromString(open(path, "rb").read())
        for fd in fds.file:
            if fd.name not in seen:
                pool.Add(fd)
                seen.add(fd.name)

            def walk(scope, msgs):
                for m in msgs:
                    full = scope + "." + m.name if scope else m.name
                    names.add(full)
                    walk(full, m.nested_type)
            walk(fd.package, fd.message_type)
    return pool, sorted(names)


def write(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def samples(cls):
    """A few filled messages for the types worth it, by full name."""
    full = cls.DESCRIPTOR.full_name
    out = []
    if full == "codectest.AllTypes":
        m = cls()
        m.f_double, m.f_float, m.f_int64, m.f_uint64 = 1.5, -2.25, -(1 << 62), (1 << 64) - 1
        m.f_int32, m.f_fixed64, m.f_fixed32, m.f_bool = -5, 1 << 63, 1 << 31, True
        m.f_string, m.f_bytes, m.f_uint32 = "h\u00e9llo", b"\x00\xff", 4000000000
        m.f_sfixed32, m.f_sfixed64, m.f_sint32, m.f_sint64 = -7, -(1 << 40), -300, -(1 << 50)
        m.f_color, m.f_mood = 2, 1
        m.f_nested.id, m.f_nested.name = 3, "n"
        m.f_nested.values.extend([1, -1, 300])
        m.f_stamp.seconds, m.f_stamp.level = 99, 2
        m.o_int32, m.o_string, m.o_bool, m.o_double = 0, "", False, 0.0
        m.r_double.extend([0.5, -0.0, float("inf")])
        m.r_int64.extend([1, -1, 1 << 40])
        m.r_sint32.extend([-1, 1])
        m.r_string.extend(["a", "", "\u2603"])
        m.r_color.extend([1, 2, 3])
        m.r_unpacked.extend([1, 2, 3])
        m.r_nested.add(id=1).values.append(5)
        m.r_nested.add(name="x")
        m.m_int32[1] = "a"
        m.m_int64[-1] = "b"
        m.m_bool[True] = "t"
        m.m_string["k"] = "v"
        m.m_nested["n"].id = 4
        m.m_color["c"] = 3
        m.m_bytes["b"] = b"\x01"
        m.m_double[7] = 2.5
        m.m_sfixed64[-9] = "s"
        m.c_nested.name = "one"
        m.x_bytes = b"x"
        out.append(m)
        out.append(cls(c_int=7, x_bool=True, f_string="only"))
        out.append(cls(c_string="s", r_fixed32=[1, 2], r_bool=[True, False]))
    elif full == "codectest.Node":
        m = cls(name="root")
        c = m.child
        for i in range(20):
            c.name = "c%d" % i
            c = c.child
        m.children.add(name="a").children.add(name="b")
        m.named["x"].named["y"].name = "z"
        out.append(m)
    elif full == "codectest2.Legacy":
        m = cls(id=1, name="n", count=0, size=3, raw=b"\x00", text="t", ratio=0.25)
        m.plain.extend([1, 2])
        m.packed.extend([3, 4])
        m.sizes.extend([1, 2, 3])
        m.item.a, m.item.b = 5, "b"
        m.entry.add(key="k1")
        m.entry.add(key="k2")
        m.next.id = 2
        m.next.next.id = 3
        m.counts["a"] = 1
        m.flags["f"] = 1
        out.append(m)
        out.append(cls(id=-1))
    elif full == "hosttest.EchoRequest":
        m = cls(text="hello", blob=b"\x00\x01", count=-3, color=2)
        m.numbers.extend([1, 2, -3])
        m.labels["a"] = "b"
        m.item.seq, m.item.tag, m.item.payload = 1, "t", b"p"
        out.append(m)
    elif full == "codectest.Scalars20":
        out.append(cls(a1=-1, a2=-2, a3=3, a4=4, a5=-5, a6=-6, a7=True, a8=8.5, a9=9.5, a10=10,
                       a11=11, a12=-12, a13=-13, a14="fourteen", a15=b"15", a16=16, a17=17,
                       a18="eighteen", a19=19.0, a20=True))
    elif full == "codectest.Sparse":
        out.append(cls(low=1, high=2, mid=3))
    elif full in ("helloworld.HelloRequest", "codectest.Hello"):
        out.append(cls(name="world"))
    elif full == "hosttest.Item":
        out.append(cls(seq=1 << 40, tag="tag", payload=b"x" * 64))
    return out


def unknown_fields():
    """Bytes with fields no message declares: every wire type, a group, nesting."""
    return [bytes.fromhex("f80701" "f90701020304050607" "fa0703616263" "fd0701020304"),
            bytes.fromhex("fb07" "0801" "fb07" "0802" "fc07" "fc07"),
            bytes.fromhex("0a0512030a0100")]


def main():
    for p in SETS:
        if not os.path.exists(p):
            sys.exit("missing %s: build first (cmake --build %s)" % (p, BUILD))
    pool, names = load()
    factory = message_factory.MessageFactory(pool)
    for full in names:
        cls = factory.GetPrototype(pool.FindMessageTypeByName(full))
        head = b"=" + full.encode() + b"\n"
        for target in ("decode", "roundtrip"):
            write(target, head)
            for m in samples(cls):
                write(target, head + m.SerializeToString())
        if full in ("codectest.AllTypes", "hosttest.Item", "codectest2.Legacy"):
            for u in unknown_fields():
                write("decode", head + u)
        # The encoder's interpreter reads choices, not protobuf: a seeded random program.
        rnd = random.Random(full)
        write("encode", head + bytes(rnd.randrange(256) for _ in range(48)))
    # The loader: the sets as they are, one proto's set without its imports, and a set of
    # google's descriptor.proto (many features: extensions ranges, options, nested enums).
    for path in SETS:
        data = open(path, "rb").read()
        write("schema", b"\x00" + data)
        write("schema", b"\x01" + data)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "one.pb")
        inc = os.path.join(SOURCE_DIR, "tests", "proto")
        for proto in ("types2.proto", "nopkg.proto", "types.proto"):
            subprocess.run(["protoc", "-I" + inc, "--descriptor_set_out=" + out, proto], check=True)
            write("schema", b"\x00" + open(out, "rb").read())
    print("corpus written to %s" % CORPUS)


if __name__ == "__main__":
    main()
