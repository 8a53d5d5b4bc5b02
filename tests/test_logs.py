"""Logs from handlers and of the host (issues 15 and 17): log.info/warn/error and print write one
record in the host's format with the call's method and request id; JSON logs stay one JSON object
a line, with numbers as numbers; a failed call's line carries its status message; records held
by a worker are written whole and in order, on SIGTERM, after a handler's error, and when the
process dies of a fatal signal."""

import concurrent.futures
import json
import resource
import signal
import unittest

import grpc

from harness import pb, wait_until
from snippets import SnippetTestCase, ok, run, snippet_host, stub_per_worker

METHOD = "/helloworld.Greeter/SayHello"
HelloRequest = pb.helloworld.HelloRequest


def logfmt(line):
    """The fields of a logfmt line, quoted values unescaped (\\n \\t \\r \\" \\\\ \\xNN)."""
    fields, i = {}, 0
    while i < len(line):
        eq = line.index("=", i)
        key, i = line[i:eq], eq + 1
        if line.startswith('"', i):
            i += 1
            value = []
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] == "x":
                    value.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 4
                elif line[i] == "\\":
                    value.append({"n": "\n", "t": "\t", "r": "\r"}.get(line[i + 1], line[i + 1]))
                    i += 2
                else:
                    value.append(line[i])
                    i += 1
            value = "".join(value)
            i += 1
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            value, i = line[i:end], end
        fields[key] = value
        i += 1                      # the space between fields
    return fields


def rid(value):
    return [("x-fc-request-id", value)]


class LogfmtTest(SnippetTestCase):
    host_options = {"workers": 2}

    def record(self, predicate, start=0):
        return logfmt(self.host.wait_log(predicate, start=start))

    def test_a_record_carries_the_call_and_its_fields(self):
        mark = self.host.mark()
        ok(self.stub, "log.info('hello world', { user = 'ann', n = 3, ratio = 0.5, ok = true, "
                      "note = 'a \"quoted\" = sign' })", metadata=rid("r-7"))
        line = self.host.wait_log('msg="hello world"', start=mark)
        r = logfmt(line)
        self.assertEqual(list(r), ["ts", "level", "msg", "method", "request_id", "n", "note", "ok", "ratio", "user"])
        self.assertEqual((r["level"], r["method"], r["request_id"]), ("info", METHOD, "r-7"))
        self.assertEqual((r["user"], r["n"], r["ratio"], r["ok"]), ("ann", "3", "0.5", "true"))
        self.assertEqual(r["note"], 'a "quoted" = sign')
        self.assertIn(" n=3 ", line)

    def test_integers_are_written_as_lua_writes_them(self):
        values = [0, 7, 10, 99, 100, 101, 12345, 1000000, -5, -100, 2**63 - 1, -2**63]
        fields = ", ".join("n%d = %s" % (i, "math.mininteger" if v == -2**63 else v) for i, v in enumerate(values))
        mark = self.host.mark()
        ok(self.stub, "log.info('integers', { %s })" % fields)
        r = self.record('msg=integers', mark)
        self.assertEqual([r["n%d" % i] for i in range(len(values))], [str(v) for v in values])

    def test_levels(self):
        mark = self.host.mark()
        ok(self.stub, "log.warn('careful') log.error('broken', { code = 7 })")
        self.assertEqual(self.record("msg=careful", mark)["level"], "warn")
        self.assertEqual(self.record("msg=broken", mark)["level"], "error")

    def test_records_of_one_millisecond_keep_their_levels(self):
        """A thread copies a head it wrote in the same millisecond only for the same level and msg."""
        mark = self.host.mark()
        ok(self.stub, "for i = 1, 20 do log.info('same', { i = i }) log.warn('same', { i = i }) "
                      "log.error('same', { i = i }) end log.info('done')")
        self.record("msg=done", mark)
        records = [logfmt(l) for l in self.host.output().split("\n")[mark:] if "msg=same" in l]
        self.assertEqual([(r["level"], r["i"]) for r in records],
                         [(level, str(i)) for i in range(1, 21) for level in ("info", "warn", "error")])

    def test_print_writes_info_records(self):
        mark = self.host.mark()
        ok(self.stub, "print('from print', 1, nil, true, 2.5)", metadata=rid("p-1"))
        r = self.record("request_id=p-1", mark)
        self.assertEqual((r["level"], r["msg"], r["method"]), ("info", "from print\t1\tnil\ttrue\t2.5", METHOD))

    def test_bad_arguments_raise(self):
        cases = [
            ("log.info()", "bad argument #1 to 'info' (string expected, got no value)"),
            ("log.info('x', 'y')", "bad argument #2 to 'info' (table expected, got string)"),
            ("log.info('x', { 'positional' })", "log.info: field names are strings, got a number"),
            ("log.warn('x', { ['two words'] = 1 })", "log.warn: field name 'two words' is not letters, digits"),
            ("log.info('x', { ['9lives'] = 1 })", "field name '9lives' is not"),
            ("log.error('x', { msg = 'y' })", "log.error: field name 'msg' is the record's own"),
            ("log.info('x', { request_id = 'y' })", "field name 'request_id' is the record's own"),
            ("log.info('x', { t = {} })", "log.info: field 't' is a table; fields are strings, numbers or booleans"),
            ("local t = {} for i = 1, 33 do t['f' .. i] = i end log.info('x', t)", "log.info: more than 32 fields"),
        ]
        for chunk, message in cases:
            with self.subTest(chunk):
                _, code, details = run(self.stub, chunk)
                self.assertEqual(code, grpc.StatusCode.UNKNOWN)
                self.assertIn(message, details)

    def test_a_failed_call_line_carries_its_message(self):
        mark = self.host.mark()
        run(self.stub, "grpc.error('NOT_FOUND', 'no item 42')", metadata=rid("f-1"))
        run(self.stub, "error('boom')", metadata=rid("f-2"))
        run(self.stub, "grpc.error('INTERNAL', string.rep('\\u{e9}', 2000))", metadata=rid("f-3"))
        run(self.stub, "return 1", metadata=rid("f-4"))
        r = self.record(lambda l: "msg=call" in l and "request_id=f-1" in l, mark)
        self.assertEqual((r["status"], r["message"]), ("NOT_FOUND", "no item 42"))
        r = self.record(lambda l: "msg=call" in l and "request_id=f-2" in l, mark)
        self.assertEqual(r["status"], "UNKNOWN")
        self.assertIn("snippet:1: boom", r["message"])
        # A long message is cut at a character, within 512 bytes.
        r = self.record(lambda l: "msg=call" in l and "request_id=f-3" in l, mark)
        self.assertTrue(r["message"].endswith("..."), r["message"][-20:])
        self.assertEqual(set(r["message"][:-3]), {"\u00e9"})
        self.assertLessEqual(len(r["message"][:-3].encode()), 512)
        r = self.record(lambda l: "msg=call" in l and "request_id=f-4" in l, mark)
        self.assertEqual(r["status"], "OK")
        self.assertNotIn("message", r)

    def test_a_long_message_is_cut_and_the_call_kept(self):
        mark = self.host.mark()
        ok(self.stub, "log.info(string.rep('x', 10000), { after = 'y' })", metadata=rid("long"))
        line = self.host.wait_log("request_id=long", start=mark)
        self.assertLessEqual(len(line) + 1, 4096)
        r = logfmt(line)
        self.assertTrue(r["msg"].endswith("xx..."))
        self.assertEqual((r["method"], r["after"]), (METHOD, "y"))

    def test_lines_keep_their_order_and_never_mix(self):
        # Two handlers on two workers write 2,000 records each, larger than a buffer holds.
        chunk = ("for i = 1, 2000 do log.info('seq', { tag = %r, i = i, pad = string.rep('p', 200) }) end "
                 "return state")
        stubs = stub_per_worker(self.host)
        mark = self.host.mark()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            states = list(pool.map(lambda tag: ok(stubs[tag], chunk % ("t%d" % tag))[0], range(2)))
        wait_until(lambda: sum("msg=seq" in l for l in self.host.lines[mark:]) == 4000, 10,
                   what="4000 records")
        seen = {"t0": [], "t1": []}
        for line in self.host.lines[mark:]:
            r = logfmt(line)        # every line is one whole record
            self.assertIn("ts", r, line[:100])
            if r["msg"] == "seq":
                self.assertEqual(len(r["pad"]), 200, line[:100])
                seen[r["tag"]].append(int(r["i"]))
        self.assertEqual(seen, {"t0": list(range(1, 2001)), "t1": list(range(1, 2001))})
        self.assertEqual(len(set(states)), 2, "both workers wrote")


class CallRecordTest(SnippetTestCase):
    """One worker writes every call line: its fields are its own call's, whatever came before."""
    host_options = {"workers": 1}
    ODD = '/odd "name"/x y'

    def call(self, channel, method, request_id):
        call = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            call(HelloRequest(name="return 1").SerializeToString(), metadata=rid(request_id), timeout=10)
        except grpc.RpcError:
            pass

    def test_each_call_line_has_its_own_method_status_and_peer(self):
        a, b = self.host.channel(own_connection=True), self.host.channel(own_connection=True)
        steps = [(a, METHOD, "OK"), (a, "/no.Such/Method", "UNIMPLEMENTED"), (b, METHOD, "OK"),
                 (b, self.ODD, "UNIMPLEMENTED"), (a, self.ODD, "UNIMPLEMENTED"), (a, METHOD, "OK"),
                 (b, METHOD, "OK")]
        mark = self.host.mark()
        for i, (channel, method, _) in enumerate(steps):
            self.call(channel, method, "m-%d" % i)
        peers = {}
        for i, (channel, method, status) in enumerate(steps):
            r = logfmt(self.host.wait_log(lambda l: "msg=call" in l and "request_id=m-%d " % i in l + " ", start=mark))
            self.assertEqual((r["method"], r["status"], r["protocol"]), (method, status, "grpc"))
            self.assertRegex(r["duration_ms"], r"^[0-9]+\.[0-9]{3}$")
            self.assertRegex(r["bytes_in"] + " " + r["bytes_out"], r"^[0-9]+ [0-9]+$")
            peers.setdefault(id(channel), set()).add(r["peer"])
        self.assertEqual([len(p) for p in peers.values()], [1, 1])
        self.assertNotEqual(*peers.values())


class JsonTest(SnippetTestCase):
    host_options = {"workers": 2, "args": ["--log-format", "json"]}

    def record(self, predicate, start=0):
        return json.loads(self.host.wait_log(predicate, start=start))

    def tearDown(self):
        super().tearDown()
        for line in self.host.lines:
            json.loads(line)        # every line is one JSON object

    def test_the_hosts_numbers_are_numbers(self):
        ready = json.loads(self.host.ready_line)
        self.assertEqual((type(ready["port"]), ready["workers"]), (int, 2))
        mark = self.host.mark()
        run(self.stub, "grpc.error('NOT_FOUND', 'no such \"thing\"')", metadata=rid("j-1"))
        r = self.record(lambda l: '"msg":"call"' in l and '"request_id":"j-1"' in l, mark)
        self.assertIsInstance(r["duration_ms"], (int, float))
        self.assertIsInstance(r["bytes_in"], int)
        self.assertIsInstance(r["bytes_out"], int)
        self.assertEqual((r["status"], r["message"]), ("NOT_FOUND", 'no such "thing"'))
        self.host.send_signal(signal.SIGHUP)
        r = self.record('"msg":"reloaded"', mark)
        self.assertEqual((type(r["version"]), r["changed"]), (int, "SIGHUP"))
        self.assertIsInstance(r["duration_ms"], (int, float))

    def test_a_method_name_that_needs_escapes_stays_json(self):
        odd = '/odd "name"/x\\y'
        channel = self.host.channel(own_connection=True)
        call = channel.unary_unary(odd, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        mark = self.host.mark()
        for i in range(2):
            with self.assertRaises(grpc.RpcError):
                call(b"", metadata=rid("odd-%d" % i), timeout=10)
        for i in range(2):
            r = self.record(lambda l: '"request_id":"odd-%d"' % i in l, mark)
            self.assertEqual((r["method"], r["status"]), (odd, "UNIMPLEMENTED"))

    def test_fields_keep_their_types(self):
        mark = self.host.mark()
        ok(self.stub, "log.info('typed', { n = 3, ratio = 0.5, ok = false, s = '3', huge = 1/0, big = 2^70 })",
           metadata=rid("j-2"))
        r = self.record('"msg":"typed"', mark)
        self.assertEqual((r["n"], r["ratio"], r["ok"], r["s"]), (3, 0.5, False, "3"))
        self.assertEqual((type(r["n"]), type(r["ratio"])), (int, float))
        self.assertEqual(r["huge"], "inf")      # JSON has no infinity
        self.assertEqual(r["big"], 2.0 ** 70)
        self.assertEqual((r["method"], r["request_id"]), (METHOD, "j-2"))

    def test_print_stays_json(self):
        mark = self.host.mark()
        ok(self.stub, "print('hello from print', 'x\"y', 1)", metadata=rid("j-3"))
        r = self.record('"request_id":"j-3"', mark)
        self.assertEqual((r["level"], r["msg"]), ("info", 'hello from print\tx"y\t1'))

    def test_any_bytes_make_valid_json(self):
        mark = self.host.mark()
        ok(self.stub, "log.info('bad \\255\\254 utf-8, \\0 nul, \\1 ctl, \\u{1F600} smile', "
                      "{ v = 'tab\\tnl\\n' })", metadata=rid("j-4"))
        r = self.record('"request_id":"j-4"', mark)
        self.assertEqual(r["msg"], "bad \ufffd\ufffd utf-8, \x00 nul, \x01 ctl, \U0001F600 smile")
        self.assertEqual(r["v"], "tab\tnl\n")
        ok(self.stub, "log.info(string.rep('\\u{e9}', 5000), { after = 'y' })", metadata=rid("j-5"))
        r = self.record('"request_id":"j-5"', mark)
        self.assertTrue(r["msg"].endswith("\u00e9..."))
        self.assertEqual(r["after"], "y")


class FlushTest(unittest.TestCase):
    def test_every_line_is_written_on_sigterm(self):
        host = snippet_host(workers=2, args=["--max-streams", "1000"])
        with host:
            stubs = [host.greeter_stub(own_connection=True) for _ in range(2)]
            chunk = "log.info('in flight') shared.incr('started', 1, 0) grpc.sleep(0.5) return 1"
            futures = [stubs[i % 2].SayHello.future(
                HelloRequest(name=chunk), timeout=30,
                metadata=rid("s-%d" % i)) for i in range(200)]
            wait_until(lambda: ok(stubs[0], "return shared.get('started')") == [200], 20,
                       what="200 handlers to start")
            host.send_signal(signal.SIGTERM)
            self.assertEqual({f.result().message for f in futures}, {"integer:1:1"})
            self.assertEqual(host.stop(), 0)
        lines = host.lines
        calls = [l for l in lines if "msg=call" in l and "request_id=s-" in l]
        self.assertEqual(len(calls), 200, "a call line for every call")
        self.assertTrue(all("status=OK" in l for l in calls))
        self.assertEqual(sum("msg=\"in flight\"" in l for l in lines), 200)
        self.assertIn("msg=stopped", lines[-1])

    def test_lines_of_a_failing_handler_are_written(self):
        with snippet_host(workers=1) as host:
            stub = host.greeter_stub()
            _, code, _ = run(stub, "log.warn('about to fail') error('boom')", metadata=rid("e-1"))
            self.assertEqual(code, grpc.StatusCode.UNKNOWN)
            line = host.wait_log(lambda l: "msg=call" in l and "request_id=e-1" in l)
            self.assertIn("status=UNKNOWN", line)
            text = host.output()
            self.assertLess(text.index("about to fail"), text.index("msg=\"handler failed\""))
            self.assertLess(text.index("msg=\"handler failed\""), text.index(line))

    def test_lines_held_by_a_busy_worker_are_written_when_the_process_dies(self):
        # The core dump of the SIGABRT below is not wanted; the host inherits this limit.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        host = snippet_host(workers=2, args=["--max-cpu-ms", "600000"], expect_exit=None)
        with host:
            stubs = [host.greeter_stub(own_connection=True) for _ in range(2)]
            busy = stubs[0].SayHello.future(HelloRequest(
                name="log.info('held when the process died') shared.set('logged', true) while true do end"),
                timeout=60)
            # Half the calls go to the busy worker and time out; the other half answer.
            wait_until(lambda: run(stubs[1], "return shared.get('logged')", timeout=0.5)[0] == [True], 20,
                       what="the busy handler to log")
            host.send_signal(signal.SIGABRT)
            self.assertEqual(host.proc.wait(30), -signal.SIGABRT)
            busy.cancel()
        self.assertIn("held when the process died", host.output())


if __name__ == "__main__":
    unittest.main()
