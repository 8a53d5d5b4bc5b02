"""json.* and the proto3 JSON mapping (grpc.to_json / grpc.from_json), through the host.

Handlers of tests/scripts/jsontest.lua run each job the client sends on a bidi stream.
- The mapping against python3-protobuf's json_format over the codec tests' random messages
  (every field type, proto2, recursion, the well-known types): the host reads what
  MessageToJson prints and python Parses what the host prints, and both give the message
  python's own JSON round trip gives. Where python cannot print a message (an Any of an
  unknown type, a Value holding NaN, a FieldMask path with capitals), the host cannot either.
- json.encode(json.decode(text)) against python's json module on odd documents, and the
  errors (with their positions) of bad ones; checks written in Lua (tests/scripts/jsontest.lua).
- Bad input of every kind gets a clear error and the host keeps serving.

SEED (environment, default 4) changes the random messages.
"""

import json
import math
import os
import unittest

from google.protobuf import json_format, symbol_database

from harness import HostTestCase, load_stubs
from codecstubs import rt, types, types2, wellknown
from test_codec_roundtrip import Gen, canon

js = load_stubs("jsontest.proto")
SEED = int(os.environ.get("SEED", "4"))


def same_json(a, b):
    """Equal JSON values; numbers equal as doubles when either is a float."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def canon_any(msg):
    """canon(msg), with the payloads of its Any fields serialised canonically too (their map
    entries come in any order)."""
    msg = type(msg).FromString(msg.SerializeToString())
    for f in msg.DESCRIPTOR.fields:
        if f.message_type is None or f.message_type.full_name != "google.protobuf.Any":
            continue
        for a in (getattr(msg, f.name) if f.label == f.LABEL_REPEATED else [getattr(msg, f.name)]):
            if a.type_url:
                inner = symbol_database.Default().GetSymbol(a.type_url.split("/")[-1])()
                a.Unpack(inner)
                a.value = canon(inner)
    return canon(msg)


def finite_values(v):
    """A Value, Struct or ListValue without NaN or infinities: python prints those as the strings
    "NaN" and "Infinity", which read back as string_value (the host refuses them instead)."""
    name = v.DESCRIPTOR.full_name
    if name == "google.protobuf.Value":
        kind = v.WhichOneof("kind")
        if kind == "number_value" and not math.isfinite(v.number_value):
            v.number_value = 0.5
        elif kind in ("struct_value", "list_value"):
            finite_values(getattr(v, kind))
    elif name == "google.protobuf.Struct":
        for k in v.fields:
            finite_values(v.fields[k])
    elif name == "google.protobuf.ListValue":
        for x in v.values:
            finite_values(x)


FLOAT_MAX = 3.4028234663852886e38


def clamp_floats(msg):
    """Float fields at +-FLT_MAX become +-1e38: python prints FLT_MAX as 3.4028235e+38 and
    then refuses to read that back ("Float value too large"), so it cannot be the reference."""
    FD = msg.DESCRIPTOR.fields[0].__class__ if msg.DESCRIPTOR.fields else None
    for f, v in msg.ListFields():
        if f.type == FD.TYPE_FLOAT:
            fix = (lambda x: math.copysign(1e38, x) if abs(x) == FLOAT_MAX else x)
            if f.label == FD.LABEL_REPEATED:
                v[:] = [fix(x) for x in v]
            else:
                setattr(msg, f.name, fix(v))
        elif f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            if f.message_type.GetOptions().map_entry:
                vf = f.message_type.fields_by_name["value"]
                if vf.type == FD.TYPE_MESSAGE:
                    for k in v:
                        clamp_floats(v[k])
                elif vf.type == FD.TYPE_FLOAT:
                    for k in list(v):
                        if abs(v[k]) == FLOAT_MAX:
                            v[k] = math.copysign(1e38, v[k])
            elif f.label == FD.LABEL_REPEATED:
                for sub in v:
                    clamp_floats(sub)
            else:
                clamp_floats(v)
    return msg


class JsonTest(HostTestCase):
    host_options = {"workers": 2}
    maxDiff = None

    def run_jobs(self, jobs, timeout=240):
        got = list(js.JsonStub(self.host.channel()).Run(iter(jobs), timeout=timeout))
        self.assertEqual(len(got), len(jobs))
        return got

    # --- the proto3 JSON mapping against python's ---------------------------------------

    def mapping(self, msgs, what):
        """Each message both ways; returns how many python could print."""
        for m in msgs:
            clamp_floats(m)
        cls = type(msgs[0])
        name = cls.DESCRIPTOR.full_name
        printable, texts, why = [], [], {}
        for i, m in enumerate(msgs):
            try:
                texts.append(json_format.MessageToJson(m))
                printable.append(m)
            except Exception as e:  # noqa: BLE001  python has no JSON for it: neither must the host
                texts.append(None)
                why[i] = e
        jobs = [js.Job(op="to_json", type=name, data=m.SerializeToString()) for m in msgs]
        jobs += [js.Job(op="from_json", type=name, text=t) for t in texts if t is not None]
        results = self.run_jobs(jobs)
        back = iter(results[len(msgs):])
        for i, (m, text, res) in enumerate(zip(msgs, texts, results)):
            where = "%s #%d (seed %d)" % (what, i, SEED)
            if text is None:
                self.assertNotEqual(res.error, "", "%s: python cannot print it (%s), the host did: %s\n%s"
                                    % (where, why[i], res.text, m))
                continue
            want = canon_any(json_format.Parse(text, cls()))
            self.assertEqual(res.error, "", "%s: to_json failed\n%s" % (where, m))
            try:
                got = canon_any(json_format.Parse(res.text, cls()))
            except Exception as e:  # noqa: BLE001
                self.fail("%s: python cannot parse the host's JSON: %s\n%s\n%s" % (where, e, res.text, text))
            if got != want:
                self.fail("%s: the host's JSON means another message\nhost:   %s\npython: %s\nhost's as python reads it:\n%s"
                          % (where, res.text, text, json_format.Parse(res.text, cls())))
            parsed = next(back)
            self.assertEqual(parsed.error, "", "%s: from_json failed on python's JSON\n%s" % (where, text))
            self.assertEqual(canon_any(cls.FromString(parsed.data)), want,
                             "%s: the host read python's JSON as another message\n%s" % (where, text))
        return len(printable)

    def test_alltypes(self):
        g = Gen(SEED)
        n = self.mapping([g.fill(types.AllTypes()) for _ in range(1500)], "AllTypes")
        self.assertEqual(n, 1500)

    def test_alltypes_dense(self):
        g = Gen(SEED + 1, depth=2, density=1.0)
        self.mapping([g.fill(types.AllTypes()) for _ in range(200)], "dense AllTypes")

    def test_legacy(self):
        g = Gen(SEED + 2)
        self.mapping([g.fill(types2.Legacy()) for _ in range(800)], "Legacy")

    def test_nodes(self):
        g = Gen(SEED + 3, depth=6, density=0.35)
        self.mapping([g.fill(types.Node()) for _ in range(400)], "Node")

    def test_wellknown(self):
        g = Gen(SEED + 4, depth=4)
        msgs = []
        for i in range(800):
            m = g.fill(wellknown.WellKnown())
            # Valid times (random ones have no JSON form; python prints some anyway, normalised)
            for t in [m.ts] + list(m.stamps):
                t.seconds = g.r.randint(-62135596800, 253402300799)
                t.nanos = g.r.choice([0, 1, 1000, 1000000, 999999999, g.r.randint(0, 999999999)])
            for v in [m.val, m.list, m.st] + list(m.values.values()):
                finite_values(v)
            if m.HasField("dur"):
                m.dur.seconds = g.r.randint(-315576000000, 315576000000)
                m.dur.nanos = (1 if m.dur.seconds >= 0 else -1) * g.r.randint(0, 999999999)
            if i % 2 == 0:   # valid masks too, half the time
                m.mask.paths[:] = g.r.choice([[], ["a"], ["foo_bar.baz_qux", "x"]])
            if i == 0:       # one whose text outgrows the writer's first buffer (fuzz_json found it)
                m.mask.paths[:] = ["foo_bar.baz_qux"] * 300
            if i % 3 == 0:   # an Any that holds a real message, and one of a well-known type
                m.any.Pack(clamp_floats(g.fill(types.AllTypes())))
                m.anys.add().Pack(types.Hello(name=g.string()))
                d = m.anys.add()
                d.Pack(m.ts if i % 2 == 0 else wellknown.WellKnown())
            if i % 5 == 0:
                m.st.update({"a": 1.5, "b": [True, None, "x", {"c": -0.0}], "d": {}, "e": "é\n"})
            msgs.append(m)
        n = self.mapping(msgs, "WellKnown")
        self.assertGreater(n, 300)

    # --- json.* against python's json ----------------------------------------------------

    ODD = [
        "0", "-0", "1", "-1", "1.5", "-1.5e-7", "1E+2", "1e400x"[:-1].replace("400", "40"),
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551616",
        "123456789012345678901234567890", "0.1", "5e-324", "1.7976931348623157e308",
        '""', '"a\\u0000b"', '"\\ud83d\\ude00"', '"\\u00e9\\u4e2d"', '"é中😀"', '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
        "true", "false", "null", "[]", "{}", "[[]]", "[{}]", '{"":""}', '{"a":{"b":{"c":[1,[2,[3]]]}}}',
        ' \t\r\n[ 1 , 2 ]\n ', '{"a":1,"a":2}', '[null,null]', '{"k":null}',
        '{"\\u00e9":"é","\\n":"\\n"}', "[" + ",".join(str(i) for i in range(1000)) + "]",
        "[" * 100 + "]" * 100, '{"x":' * 99 + "1" + "}" * 99,
        '"' + "x" * 100000 + '"', '"' + "\\n" * 5000 + '"',
    ]

    BAD = {
        "": "expected a value, got the end of the text at character 1 (line 1, column 1)",
        "[1,]": "expected a value, got ']' at character 4 (line 1, column 4)",
        "{,}": "expected a string (a member's name), got ',' at character 2",
        '{"a":1,}': "expected a string (a member's name), got '}' at character 8",
        "[1 2]": "expected ',' or ']', got '2' at character 4",
        "01": "invalid number (a leading zero) at character 1",
        "1.": "invalid number at character 1",
        "-": "invalid number at character 1",
        ".5": "expected a value, got '.' at character 1",
        "+1": "expected a value, got '+' at character 1",
        "NaN": "expected a value, got 'N' at character 1",
        "Infinity": "expected a value, got 'I' at character 1",
        "tru": "expected a value, got 't' at character 1",
        "'a'": "expected a value, got ''' at character 1",
        '"abc': "unfinished string at character 5",
        '"a\nb"': "control character 0x0a in a string (escape it) at character 3 (line 1, column 3)",
        '"\\x"': "invalid escape '\\x' in a string at character 2",
        '"\\u12"': "expected four hex digits after '\\u' at character 2",
        '"\\udc00"': "lone low surrogate \\udc00 in a string at character 2",
        '"\\ud800\\u0041"': "lone high surrogate \\ud800 in a string at character 2",
        "[1e999]": "number too large for a double at character 2",
        "[" * 101 + "]" * 101: "nesting deeper than 100 at character 101",
        "\ufeff1": "expected a value, got byte 0xef at character 1",
        "1 /* c */": "expected the end of the text, got '/' at character 3",
        '{"a":1}\n\n  x': "expected the end of the text, got 'x' at character 12 (line 3, column 3)",
    }

    # What python's json reads and json.decode refuses: lone surrogates are no text, 1e999 is
    # no double (python makes it inf), and nesting is bounded as the codec's messages are.
    PYTHON_TAKES = {'"\\udc00"', '"\\ud800\\u0041"', "[1e999]", "[" * 101 + "]" * 101}

    def test_odd_documents(self):
        results = self.run_jobs([js.Job(op="recode", text=d) for d in self.ODD])
        for doc, res in zip(self.ODD, results):
            self.assertEqual(res.error, "", doc[:80])
            self.assertTrue(same_json(json.loads(res.text), json.loads(doc)),
                            "%s -> %s" % (doc[:80], res.text[:80]))
            self.assertEqual(res.text, json.dumps(json.loads(res.text), ensure_ascii=False, separators=(",", ":"))
                             if "e" not in res.text and "." not in res.text else res.text)

    def test_bad_documents(self):
        docs = list(self.BAD)
        results = self.run_jobs([js.Job(op="recode", text=d) for d in docs])
        for doc, res in zip(docs, results):
            self.assertTrue(res.error.startswith("json.decode: "), "%r: %r" % (doc[:40], res.error))
            self.assertIn(self.BAD[doc], res.error, "%r" % doc[:40])
            if doc not in self.PYTHON_TAKES:
                with self.assertRaises(ValueError, msg=doc[:40]):
                    json.loads(doc, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        self.assertServing()

    def test_lua_checks(self):
        for group in ["values", "errors", "proto", "proto_forms", "proto_errors"]:
            res = self.run_jobs([js.Job(op="check", type=group)])[0]
            self.assertEqual(res.error, "", group)
            self.assertEqual("\n".join(res.failures), "", group)  # noqa
            self.assertGreater(res.passed, 5, group)


class JsonLimitTest(HostTestCase):
    """--max-message-bytes bounds the JSON texts handlers read and write."""
    host_options = {"workers": 1, "args": ["--max-message-bytes", "65536"]}

    def test_limits(self):
        res = list(js.JsonStub(self.host.channel()).Run(iter([js.Job(op="check", type="limits")]), timeout=60))[0]
        self.assertEqual(res.error, "")
        self.assertEqual("\n".join(res.failures), "")
        self.assertGreater(res.passed, 5)
        self.assertServing()


if __name__ == "__main__":
    unittest.main()
