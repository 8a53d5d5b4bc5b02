"""The codec against the reference implementation (python3-protobuf), through the host.

Python -> host -> Python: fixed edge cases and thousands of seeded random messages of every
codectest type (proto3, proto2 with groups, recursive, well-known types) go through bidi
streams: the host decodes each into a Lua table and encodes it back (tests/scripts/codectest*.lua),
and the bytes that come back parse to an equal message; where python's serialisation is
canonical (no maps) they are the same bytes. Equality is checked on deterministic
serialisations, so floats compare bit for bit (NaN payloads, -0.0).

Lua -> Python: codectest.RoundTrip/Generate builds messages in Lua from a seed and sends each
with a dump of what its table holds; the message parses to what the dump says, and
grpc.encode of the same table gives the same bytes as the reply's codec.

SEED (environment, default 4) changes the random messages; a failure prints the seed.
"""

import json
import math
import os
import random
import struct
import unittest

import grpc
from google.protobuf import any_pb2, descriptor, struct_pb2

from harness import HostTestCase
from codecstubs import imported, nopkg, rt, types, types2, wellknown


SEED = int(os.environ.get("SEED", "4"))
FD = descriptor.FieldDescriptor


def ident(x):
    return x


def is_map(f):
    return f.type == FD.TYPE_MESSAGE and f.message_type.GetOptions().map_entry


def real_oneof(o):
    """Not the synthetic oneof of a proto3 `optional` field."""
    return not (len(o.fields) == 1 and o.name == "_" + o.fields[0].name)


def has_map(msg):
    """Whether msg holds a map entry anywhere: then python's bytes are not canonical."""
    for f, v in msg.ListFields():
        if is_map(f):
            return True
        if f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            for sub in (v if f.label == FD.LABEL_REPEATED else [v]):
                if has_map(sub):
                    return True
    return False


def clear_maps(msg):
    for f in msg.DESCRIPTOR.fields:
        if is_map(f):
            msg.ClearField(f.name)


def canon(msg):
    return msg.SerializeToString(deterministic=True)


# {=========================================================================
# Random messages from the descriptors

INT_RANGES = {
    FD.TYPE_INT32: (-2 ** 31, 2 ** 31 - 1), FD.TYPE_SINT32: (-2 ** 31, 2 ** 31 - 1),
    FD.TYPE_SFIXED32: (-2 ** 31, 2 ** 31 - 1), FD.TYPE_UINT32: (0, 2 ** 32 - 1),
    FD.TYPE_FIXED32: (0, 2 ** 32 - 1), FD.TYPE_INT64: (-2 ** 63, 2 ** 63 - 1),
    FD.TYPE_SINT64: (-2 ** 63, 2 ** 63 - 1), FD.TYPE_SFIXED64: (-2 ** 63, 2 ** 63 - 1),
    FD.TYPE_UINT64: (0, 2 ** 64 - 1), FD.TYPE_FIXED64: (0, 2 ** 64 - 1),
}
CHARS = ["a", "Z", "0", " ", "\0", "\n", "\"", "é", "ß", "✓", "€", "\u07ff", "\u0800", "\uffff",
         "\U00010000", "\U0010ffff", "😀", "中", "\x7f", "\x80"]
DOUBLE_EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, -math.nan, 5e-324, -5e-324,
                1.7976931348623157e308, 2.2250738585072014e-308, 0.1, 1.0, -1.0]
FLOAT_EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.401298464324817e-45,
               3.4028234663852886e38, -3.4028234663852886e38, 1.1754943508222875e-38, 0.5, -2.0]


class Gen:
    """Random values for every field type, edge values often."""

    def __init__(self, seed, depth=3, density=0.5):
        self.r = random.Random(seed)
        self.max_depth = depth
        self.density = density

    def int(self, t):
        lo, hi = INT_RANGES[t]
        c = self.r.random()
        if c < 0.3:
            return self.r.choice([lo, hi, 0, 1, lo + 1, hi - 1, 127, 128, min(hi, 2 ** 31), max(lo, -1)])
        if c < 0.6:   # small: one- and two-byte varints
            return max(lo, min(hi, self.r.randint(-300, 300)))
        return self.r.randint(lo, hi)

    def double(self):
        c = self.r.random()
        if c < 0.2:
            return self.r.choice(DOUBLE_EDGES)
        if c < 0.6:   # any bits: NaN payloads, denormals
            return struct.unpack("<d", self.r.getrandbits(64).to_bytes(8, "little"))[0]
        return self.r.uniform(-1e6, 1e6)

    def float(self):
        c = self.r.random()
        if c < 0.2:
            return self.r.choice(FLOAT_EDGES)
        if c < 0.6:
            bits = self.r.getrandbits(32)
            if (bits >> 23) & 0xFF == 0xFF and bits & 0x7FFFFF:
                bits |= 0x400000   # python's float field stores a quiet NaN; raw bytes test the rest
            return struct.unpack("<f", bits.to_bytes(4, "little"))[0]
        return struct.unpack("<f", struct.pack("<f", self.r.uniform(-1e4, 1e4)))[0]

    def string(self):
        return "".join(self.r.choice(CHARS) for _ in range(self.r.randint(0, 12)))

    def bytes(self):
        n = self.r.randint(0, 16)
        return bytes(self.r.choice([0, 0xFF, self.r.randint(0, 255)]) for _ in range(n))

    def enum(self, f, msg):
        values = [v.number for v in f.enum_type.values]
        closed = f.enum_type.file.syntax == "proto2"
        if closed or self.r.random() < 0.8:
            return self.r.choice(values)
        return self.r.choice([-1, 99, 2 ** 31 - 1, -2 ** 31])   # open: any int32

    def scalar(self, f, msg=None):
        t = f.type
        if t in INT_RANGES:
            return self.int(t)
        if t == FD.TYPE_DOUBLE:
            return self.double()
        if t == FD.TYPE_FLOAT:
            return self.float()
        if t == FD.TYPE_BOOL:
            return self.r.random() < 0.5
        if t == FD.TYPE_STRING:
            return self.string()
        if t == FD.TYPE_BYTES:
            return self.bytes()
        if t == FD.TYPE_ENUM:
            return self.enum(f, msg)
        raise AssertionError("type %d" % t)

    def fill(self, msg, depth=0):
        d = msg.DESCRIPTOR
        chosen = set()
        for o in d.oneofs:
            if real_oneof(o) and self.r.random() < 0.7:
                chosen.add(self.r.choice(o.fields).name)
        for f in d.fields:
            o = f.containing_oneof
            if o is not None and real_oneof(o):
                if f.name not in chosen:
                    continue
            elif f.label != FD.LABEL_REQUIRED and self.r.random() >= self.density:
                continue
            sub = f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP)
            if sub and depth >= self.max_depth and f.label != FD.LABEL_REQUIRED:
                continue
            self.field(msg, f, depth)
        return msg

    def field(self, msg, f, depth):
        sub = f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP)
        if is_map(f):
            kf, vf = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            m = getattr(msg, f.name)
            for _ in range(self.r.randint(0, 3)):
                k = self.scalar(kf)
                if vf.type == FD.TYPE_MESSAGE:
                    self.fill(m[k], depth + 1)
                else:
                    m[k] = self.scalar(vf, m)
        elif f.label == FD.LABEL_REPEATED:
            lst = getattr(msg, f.name)
            for _ in range(self.r.randint(0, 3 if sub else 6)):
                if sub:
                    self.fill(lst.add(), depth + 1)
                else:
                    lst.append(self.scalar(f, msg))
        elif sub:
            m = getattr(msg, f.name)
            m.SetInParent()
            self.fill(m, depth + 1)
        else:
            setattr(msg, f.name, self.scalar(f, msg))

# }=========================================================================


def wire_fields(data):
    """(number, wire type, raw payload) of each field of a message's bytes (no groups)."""
    out, i = [], 0

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v
    while i < len(data):
        tag = varint()
        wt = tag & 7
        if wt == 0:
            start = i
            varint()
            out.append((tag >> 3, wt, data[start:i]))
        elif wt == 2:
            n = varint()
            out.append((tag >> 3, wt, data[i:i + n]))
            i += n
        else:
            n = 8 if wt == 1 else 4
            out.append((tag >> 3, wt, data[i:i + n]))
            i += n
    return out


class RoundTripTest(HostTestCase):
    host_options = {"workers": 2}

    def method(self, path, kind="stream_stream"):
        return getattr(self.host.channel(), kind)(path, request_serializer=ident,
                                                 response_deserializer=ident)

    def push(self, path, blobs, timeout=240):
        """Sends every blob on a bidi stream, returns the replies' bytes."""
        got = list(self.method(path)(iter(blobs), timeout=timeout))
        self.assertEqual(len(got), len(blobs), "%s: %d messages back for %d" % (path, len(got), len(blobs)))
        return got

    def check_back(self, msgs, path, what):
        """msgs through the bidi echo at path: equal messages, and equal bytes where canonical."""
        blobs = [m.SerializeToString() for m in msgs]
        back = self.push(path, blobs)
        cls = type(msgs[0])
        canonical = 0
        for i, (m, sent, got) in enumerate(zip(msgs, blobs, back)):
            try:
                parsed = cls.FromString(got)
            except Exception as e:  # noqa: BLE001
                self.fail("%s #%d (seed %d): the reply does not parse: %s\nsent %s\ngot  %s"
                          % (what, i, SEED, e, sent.hex(), got.hex()))
            if canon(parsed) != canon(m):
                self.fail("%s #%d (seed %d): another message came back\nsent %s\ngot  %s\n%s"
                          % (what, i, SEED, sent.hex(), got.hex(), m))
            if not has_map(m):
                canonical += 1
                self.assertEqual(got.hex(), sent.hex(), "%s #%d (seed %d): not the same bytes\n%s"
                                 % (what, i, SEED, m))
        return canonical

    def recode(self, msgs):
        """msgs through grpc.decode + grpc.encode in Lua (RoundTrip/Recode)."""
        name = msgs[0].DESCRIPTOR.full_name
        reqs = [rt.Blob(type=name, data=m.SerializeToString()).SerializeToString() for m in msgs]
        back = self.push("/codectest.RoundTrip/Recode", reqs)
        for i, (m, got) in enumerate(zip(msgs, back)):
            b = rt.Blob.FromString(got)
            self.assertEqual(b.error, "", "%s #%d (seed %d): %s" % (name, i, SEED, m))
            self.assertEqual(canon(type(m).FromString(b.data)), canon(m), "%s #%d (seed %d)" % (name, i, SEED))
            if not has_map(m):
                self.assertEqual(b.data, m.SerializeToString(), "%s #%d (seed %d)" % (name, i, SEED))

    # --- Python -> host -> Python ------------------------------------------------------

    def test_alltypes_random(self):
        g = Gen(SEED)
        msgs = [g.fill(types.AllTypes()) for _ in range(3000)]
        for m in msgs[::2]:   # half without maps: those come back as the same bytes
            clear_maps(m)
        canonical = self.check_back(msgs, "/codectest.Echo/Stream", "AllTypes")
        self.assertGreater(canonical, 1400)   # enough without maps to compare bytes
        self.recode(msgs[:1000])

    def test_alltypes_dense(self):
        """Every field set (one member per oneof)."""
        g = Gen(SEED + 1, depth=2, density=1.0)
        msgs = [g.fill(types.AllTypes()) for _ in range(300)]
        self.check_back(msgs, "/codectest.Echo/Stream", "dense AllTypes")
        for m in msgs[:5]:   # canonical bytes too, with the maps cleared
            clear_maps(m)
        self.check_back(msgs[:5], "/codectest.Echo/Stream", "dense AllTypes without maps")

    def test_legacy_random(self):
        g = Gen(SEED + 2)
        msgs = [g.fill(types2.Legacy()) for _ in range(1500)]
        self.check_back(msgs, "/codectest.RoundTrip/Legacy", "Legacy")
        self.recode(msgs[:500])

    def test_nodes_random(self):
        g = Gen(SEED + 3, depth=6, density=0.35)
        msgs = [g.fill(types.Node()) for _ in range(800)]
        self.check_back(msgs, "/codectest.RoundTrip/Nodes", "Node")
        self.recode(msgs[:200])

    def test_wellknown_random(self):
        g = Gen(SEED + 4, depth=4)
        msgs = []
        for i in range(1000):
            m = g.fill(wellknown.WellKnown())
            if i % 3 == 0:   # an Any that holds a real message
                m.any.Pack(g.fill(types.AllTypes()))
                m.anys.add().Pack(types.Hello(name=g.string()))
            if i % 5 == 0:
                m.st.update({"a": 1.5, "b": [True, None, "x", {"c": -0.0}], "d": {}})
            msgs.append(m)
        self.check_back(msgs, "/codectest.RoundTrip/Wkt", "WellKnown")
        self.recode(msgs[:300])

    def test_edge_cases(self):
        A = types.AllTypes
        i64, u64 = 2 ** 63 - 1, 2 ** 64 - 1
        msgs = [
            A(),
            A(f_int64=-2 ** 63, f_uint64=u64, f_int32=-2 ** 31, f_uint32=2 ** 32 - 1, f_sint32=-2 ** 31,
              f_sint64=-2 ** 63, f_fixed64=u64, f_fixed32=2 ** 32 - 1, f_sfixed32=-2 ** 31,
              f_sfixed64=-2 ** 63),
            A(f_int64=i64, f_uint64=2 ** 63, f_int32=2 ** 31 - 1, f_sint32=2 ** 31 - 1, f_sint64=i64,
              f_fixed64=2 ** 63, f_sfixed32=2 ** 31 - 1, f_sfixed64=i64),
            A(f_double=-0.0, f_float=-0.0, o_double=0.0, o_float=-0.0),
            A(f_double=math.nan, f_float=math.inf, r_double=[math.nan, -math.inf, 5e-324, -0.0],
              r_float=[1.401298464324817e-45, -math.nan]),
            A(f_string="a\0b", f_bytes=b"\0\0\xff\0", r_string=["", "\U0010ffff", "é✓😀"],
              r_bytes=[b"", b"\0"], m_string={"": "", "\0": "\0", "ключ": "значение"}),
            A(o_int32=0, o_string="", o_bytes=b"", o_bool=False, o_color=0, o_uint64=0, o_double=0.0),
            A(f_color=99, f_mood=-5, r_color=[0, 1, -1, 2 ** 31 - 1], m_color={"x": 77}, o_color=-2 ** 31),
            A(f_mood=types.GLAD),
            A(c_int=0), A(c_string=""), A(c_color=0), A(x_bytes=b""), A(x_bool=False),
            A(c_nested=types.AllTypes.Nested()), A(f_nested=types.AllTypes.Nested(), f_stamp=imported.Stamp()),
            A(r_nested=[types.AllTypes.Nested()] * 3, m_nested={"": types.AllTypes.Nested()}),
            A(m_int32={0: ""}, m_uint64={u64: "max"}, m_int64={-2 ** 63: "min"}, m_bool={True: "t", False: ""},
              m_sint64={-1: "x"}, m_fixed64={0: "z"}, m_double={1: math.nan, 2: -0.0}),
            A(r_int32=list(range(-500, 500)), r_unpacked=[-1, 0, 2 ** 31 - 1], r_bool=[True] * 200),
            A(f_string="x" * 127, f_bytes=b"y" * 128),   # lengths on both sides of one varint byte
            A(f_nested=types.AllTypes.Nested(name="n" * 16383)),
            A(f_nested=types.AllTypes.Nested(name="n" * 16384)),
            A(r_nested=[types.AllTypes.Nested(id=i, name="x" * (i % 300)) for i in range(400)]),
        ]
        self.check_back(msgs, "/codectest.Echo/Stream", "edge AllTypes")
        self.recode(msgs)
        legacy = [
            types2.Legacy(id=0),
            types2.Legacy(id=-1, name="anon", count=7, size=types2.MEDIUM, ratio=1.5),   # defaults, given
            types2.Legacy(id=1, name="", count=0, raw=b"", text=""),
            types2.Legacy(id=2, plain=[1, -1], packed=[2 ** 31 - 1, -2 ** 31], sizes=[1, 2, 3],
                          item=types2.Legacy.Item(), entry=[types2.Legacy.Entry(key="")]),
            types2.Legacy(id=3, next=types2.Legacy(id=4, next=types2.Legacy(id=5, item=types2.Legacy.Item(a=1)))),
            types2.Legacy(id=6, counts={"": 0}, flags={"a": types2.FLAG_NONE, "b": types2.FLAG_ON}),
        ]
        self.check_back(legacy, "/codectest.RoundTrip/Legacy", "edge Legacy")
        self.recode(legacy)
        node = types.Node(name="root")
        n = node
        for i in range(99):   # 100 levels below the root: the deepest allowed
            n = n.child
            n.name = str(i)
        self.check_back([node], "/codectest.RoundTrip/Nodes", "deep Node")
        ping = nopkg.Ping(text="é")
        got = self.method("/codectest.RoundTrip/Bare", "unary_unary")(ping.SerializeToString(), timeout=30)
        self.assertEqual(nopkg.Ping.FromString(got), nopkg.Ping(text="bare é"))
        got = self.method("/Bare/Ping", "unary_unary")(ping.SerializeToString(), timeout=30)
        self.assertEqual(nopkg.Ping.FromString(got), nopkg.Ping(text="pong é"))

    def test_raw_bytes(self):
        """Bytes python would not write: every NaN payload, other encodings of the same values."""
        same = [   # the same bytes come back
            "150100807f", "15ffffbf7f", "150100c0ff", "15000080ff",   # float: signalling NaNs, payloads, -inf
            "09010000000000f07f", "09ffffffffffffffff", "090000000000000080",   # double: sNaN, NaN, -0.0
            "d20208010080ff0000807f",                                # r_float: a signalling NaN, +inf
            "8001ffffffffffffffffff01",                              # enum -1: ten bytes
            "4a0361c3a9",
        ]
        back = self.push("/codectest.Echo/Stream", [bytes.fromhex(h) for h in same])
        for h, got in zip(same, back):
            self.assertEqual(got.hex(), h)
            self.assertEqual(types.AllTypes.FromString(got).SerializeToString().hex(), h)   # as python writes it
        other = {   # sent -> what comes back; python reads both as the same message
            "e80201 e80202": "ea02 02 0102",                   # unpacked -> packed
            "d203 02 0708": "d00307 d00308",                   # packed -> unpacked, as declared
            "2885808000": "2805",                              # a long varint for 5
            "2801 2802": "2802",                               # the last one wins
            "880501 92050161": "92050161",                     # oneof: the last member wins
            "9201 020801 9201 03120178": "9201 05 0801120178",   # a message given twice merges
            "a0069601 4a0161": "4a0161",                       # unknown fields are dropped
            "ea03 00": "ea03 04 0800 1200",                    # a map entry with nothing in it
            "4000 4001": "4001",
            "2800": "",                                        # proto3 zero: not written
        }
        sent = [bytes.fromhex(k.replace(" ", "")) for k in other]
        back = self.push("/codectest.Echo/Stream", sent)
        for (k, want), data, got in zip(other.items(), sent, back):
            self.assertEqual(got.hex(), want.replace(" ", ""), "sent %s" % k)
            ref = types.AllTypes.FromString(data)
            ref.DiscardUnknownFields()
            self.assertEqual(canon(types.AllTypes.FromString(got)), canon(ref), "sent %s" % k)

    def test_proto2_closed_enum_unknown(self):
        """A number the closed enum lacks is not a value: protobuf keeps it aside, the host drops it."""
        sent = bytes.fromhex("0801" "2009" "3801 3809 3802")
        got = self.push("/codectest.RoundTrip/Legacy", [sent])[0]
        self.assertEqual(got.hex(), "0801" "3801" "3802")
        ref = types2.Legacy.FromString(sent)
        self.assertFalse(ref.HasField("size"))
        self.assertEqual(list(ref.sizes), [1, 2])

    def test_client_stream_and_server_stream(self):
        g = Gen(SEED + 5)
        msgs = [g.fill(types.AllTypes()) for _ in range(50)]
        stub = types.EchoStub(self.host.channel())
        last = stub.ClientStream(iter(msgs), timeout=60)
        self.assertEqual(canon(last), canon(msgs[-1]))
        for m in msgs[:10]:
            got = list(stub.ServerStream(m, timeout=30))
            self.assertEqual([canon(x) for x in got], [canon(m)])
            self.assertEqual(canon(stub.Echo(m, timeout=30)), canon(m))

    # --- Lua -> Python ------------------------------------------------------------------

    def generated(self, kind, count, seed):
        raw = self.method("/codectest.RoundTrip/Generate", "unary_stream")(
            rt.GenerateRequest(seed=seed, count=count, kind=kind).SerializeToString(), timeout=120)
        n = 0
        number = {"all": 1, "legacy": 2, "node": 3}[kind]
        cls = {"all": types.AllTypes, "legacy": types2.Legacy, "node": types.Node}[kind]
        for i, data in enumerate(raw):
            g = rt.Generated.FromString(data)
            msg = getattr(g, kind)
            where = "%s #%d (seed %d)" % (kind, i, seed)
            try:
                self.check_dump(msg, json.loads(g.dump), where)
            except AssertionError as e:
                raise AssertionError("%s\ndump %s\nmessage %s" % (e, g.dump, msg)) from None
            # grpc.encode of the table wrote what the reply's codec wrote.
            fields = [p for (num, _, p) in wire_fields(data) if num == number]
            self.assertEqual(fields, [g.encoded], where)
            self.assertEqual(canon(cls.FromString(g.encoded)), canon(msg), where)
            n += 1
        self.assertEqual(n, count)

    def test_lua_built_alltypes(self):
        self.generated("all", 2000, SEED)

    def test_lua_built_legacy(self):
        self.generated("legacy", 1000, SEED + 1)

    def test_lua_built_nodes(self):
        self.generated("node", 500, SEED + 2)

    def leaf(self, f, msg_value, d, where):
        kind, text = d.split(":", 1)
        if kind == "i":
            want = int(text)
            if f.type in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
                want %= 2 ** 64
            self.assertEqual(msg_value, want, where)
        elif kind == "b":
            self.assertIs(msg_value, text == "1", where)
        elif kind == "s":
            raw = bytes.fromhex(text)
            self.assertEqual(msg_value, raw.decode("utf-8") if f.type == FD.TYPE_STRING else raw, where)
        elif kind == "d":
            raw = bytes.fromhex(text)
            x = struct.unpack("<d", raw)[0]
            if f.type == FD.TYPE_DOUBLE:
                self.assertEqual(struct.pack("<d", msg_value).hex(), raw.hex(), where)
            elif math.isnan(x):
                self.assertTrue(math.isnan(msg_value), where)
            else:
                try:
                    want = struct.pack("<f", x)
                except OverflowError:
                    want = struct.pack("<f", math.copysign(math.inf, x))
                self.assertEqual(struct.pack("<f", msg_value).hex(), want.hex(), where)
        else:
            self.fail("%s: bad dump leaf %r" % (where, d))

    def value(self, f, v, d, where):
        if f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            self.check_dump(v, d, where)
        else:
            self.leaf(f, v, d, where)

    def check_dump(self, msg, dump, where):
        """msg holds exactly what the dump of a Lua table says."""
        self.assertIsInstance(dump, dict, where)
        names = {f.name for f in msg.DESCRIPTOR.fields}
        self.assertLessEqual(set(dump), names, where)
        for f in msg.DESCRIPTOR.fields:
            w = where + "." + f.name
            v = getattr(msg, f.name)
            if f.name not in dump:
                if f.label == FD.LABEL_REPEATED:
                    self.assertEqual(len(v), 0, w)
                elif f.has_presence:
                    self.assertFalse(msg.HasField(f.name), w)
                elif f.type in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
                    self.assertEqual(struct.pack("<d", v), bytes(8), w)   # +0.0
                else:
                    self.assertEqual(v, f.default_value, w)
                continue
            d = dump[f.name]
            if is_map(f):
                kf, vf = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
                self.assertEqual(len(v), len(d), w)
                for kd, vd in d:
                    k = self.key(kf, kd)
                    self.assertIn(k, v, w)
                    self.value(vf, v[k], vd, "%s[%r]" % (w, k))
            elif f.label == FD.LABEL_REPEATED:
                self.assertEqual(len(v), len(d), w)
                for i, (x, xd) in enumerate(zip(v, d)):
                    self.value(f, x, xd, "%s[%d]" % (w, i + 1))
            else:
                if f.has_presence:
                    self.assertTrue(msg.HasField(f.name), w)
                self.value(f, v, d, w)

    def key(self, kf, kd):
        kind, text = kd.split(":", 1)
        if kind == "i":
            k = int(text)
            return k % 2 ** 64 if kf.type in (FD.TYPE_UINT64, FD.TYPE_FIXED64) else k
        if kind == "b":
            return text == "1"
        return bytes.fromhex(text).decode("utf-8")


if __name__ == "__main__":
    unittest.main()
