"""The `shared` store (issue 15): one store that every worker sees and that a reload keeps; values
that keep their types; add and incr as ngx.shared.DICT has them, incr atomic across workers;
times to live; a byte cap that evicts the least recently used keys, with a log line; and clear
errors for keys and values it cannot take."""

import concurrent.futures
import os
import re
import unittest

import grpc

from harness import wait_until
from snippets import SnippetTestCase, ok, run, script, snippet_host, stub_per_worker


class ValuesTest(SnippetTestCase):
    host_options = {"workers": 2}

    def test_values_keep_their_types(self):
        values = ok(self.stub, "shared.set('i', 42); shared.set('f', 1.0); shared.set('t', true); "
                               "shared.set('s', 'text'); shared.set('e', '') "
                               "return shared.get('i'), shared.get('f'), shared.get('t'), shared.get('s'), "
                               "shared.get('e'), shared.get('missing')")
        self.assertEqual(values, [42, 1.0, True, "text", "", None])
        self.assertEqual([type(v) for v in values[:2]], [int, float])
        self.assertEqual(ok(self.stub, "shared.set('b', false) return shared.get('b'), "
                                       "math.type(shared.get('i')), math.type(shared.get('f'))"),
                         [False, "integer", "float"])

    def test_strings_are_bytes_of_any_length(self):
        # 600 KB of every byte value, zeros included: read back through the growing buffer of get.
        self.assertEqual(ok(self.stub, "local s = string.rep('\\0\\255ab', 150000) shared.set('bytes', s) "
                                       "local got = shared.get('bytes') return #got, got == s"),
                         [600000, True])

    def test_set_nil_and_delete_remove(self):
        self.assertEqual(ok(self.stub, "shared.set('gone', 1) shared.set('gone', nil) "
                                       "shared.set('gone2', 'x') shared.delete('gone2') shared.delete('never') "
                                       "return shared.get('gone'), shared.get('gone2')"), [None, None])

    def test_add_only_when_absent(self):
        self.assertEqual(ok(self.stub, "return shared.add('a', 1)"), [True, None, False])
        self.assertEqual(ok(self.stub, "return shared.add('a', 2)"), [False, "exists", False])
        self.assertEqual(ok(self.stub, "return shared.get('a')"), [1])
        self.assertEqual(ok(self.stub, "shared.delete('a') return shared.add('a', 3)"), [True, None, False])

    def test_set_replaces_and_returns_as_ngx_does(self):
        self.assertEqual(ok(self.stub, "shared.set('r', 'a longer string') return shared.set('r', 7)"),
                         [True, None, False])
        self.assertEqual(ok(self.stub, "shared.set('r', 'ab') shared.set('r', 'cd') return shared.get('r')"),
                         ["cd"])

    def test_incr(self):
        self.assertEqual(ok(self.stub, "return shared.incr('missing', 1)"), [None, "not found"])
        self.assertEqual(ok(self.stub, "return shared.incr('c', 1, 10)"), [11, None, False])
        self.assertEqual(ok(self.stub, "return shared.incr('c', 2), math.type(shared.get('c'))"),
                         [13, "integer"])
        self.assertEqual(ok(self.stub, "return shared.incr('c', 0.5)"), [13.5, None, False])
        self.assertEqual(ok(self.stub, "shared.set('g', 2.0) local v = shared.incr('g', 1) return v, math.type(v)"),
                         [3.0, "float"])
        # Integers wrap around as Lua's own do.
        self.assertEqual(ok(self.stub, "shared.set('w', math.maxinteger) return shared.incr('w', 1) == math.mininteger"),
                         [True])

    def test_the_store_is_there_while_scripts_load(self):
        # Each worker's state took a number from the store as its script loaded.
        self.assertEqual(ok(self.stub, "return shared.get('test:states')"), [2])

    def test_bad_keys_and_values_raise(self):
        cases = [
            ("shared.set('k', {})", "bad argument #2 to 'set' (string, number, boolean or nil expected, got table)"),
            ("shared.set('k', print)", "got function"),
            ("shared.get({})", "bad argument #1 to 'get' (string expected, got table)"),
            ("shared.get(nil)", "bad argument #1 to 'get' (string expected, got nil)"),
            ("shared.set('', 1)", "bad argument #1 to 'set' (the key is empty)"),
            ("shared.set(string.rep('k', 65536), 1)", "the key is longer than 65535 bytes"),
            ("shared.set('k', 1, -1)", "bad argument #3 to 'set' (the ttl is seconds: 0 (for good) or more)"),
            ("shared.set('k', 1, 0/0)", "the ttl is seconds"),
            ("shared.set('k', 1, 'soon')", "bad argument #3 to 'set' (number expected, got string)"),
            ("shared.add('k', nil)", "bad argument #2 to 'add' (a value to add, not nil)"),
            ("shared.set('s', 'x') shared.incr('s', 1)", "shared.incr: the value of 's' is a string, not a number"),
            ("shared.set('bo', true) shared.incr('bo', 1)", "the value of 'bo' is a boolean, not a number"),
            ("shared.incr('n', '1')", "bad argument #2 to 'incr' (number expected, got string)"),
            ("shared.incr('n', 1, 'zero')", "bad argument #3 to 'incr' (number expected, got string)"),
            ("shared.set('big', string.rep('x', 2 * 1024 * 1024))",
             "shared.set: the entry for 'big' would take 2097"),
            ("shared.add('big', string.rep('x', 1024 * 1024))", "more than the 1048576 one entry may take"),
        ]
        for chunk, message in cases:
            with self.subTest(chunk):
                _, code, details = run(self.stub, chunk)
                self.assertEqual(code, grpc.StatusCode.UNKNOWN)
                self.assertIn(message, details)
                self.assertTrue(details.startswith("snippet:1:"), details)
        # What failed stored nothing.
        self.assertEqual(ok(self.stub, "return shared.get('k'), shared.get('big'), shared.get('s')"),
                         [None, None, "x"])

    def test_thousand_concurrent_increments_over_two_workers(self):
        stubs = stub_per_worker(self.host)
        chunk = "shared.incr('hits:' .. state, 1, 0) return shared.incr('hits', 1, 0)"
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(lambda i: ok(stubs[i % 2], chunk)[0], range(1000)))
        self.assertEqual(sorted(results), list(range(1, 1001)), "every increment saw its own count")
        hits, one, two = ok(self.stub, "return shared.get('hits'), shared.get('hits:1'), shared.get('hits:2')")
        self.assertEqual(hits, 1000)
        self.assertEqual((one or 0) + (two or 0), 1000)
        self.assertTrue(one and two, "both workers served increments: %r %r" % (one, two))


class TimeToLiveTest(SnippetTestCase):
    host_options = {"workers": 2}

    def test_a_key_expires_after_its_ttl_and_not_before(self):
        value, set_at = ok(self.stub, "shared.set('t', 'x', 1) shared.set('forever', 'y') "
                                      "shared.set('long', 'z', 3600) return shared.get('t'), grpc.now()")
        self.assertEqual(value, "x")
        wait_until(lambda: ok(self.stub, "return shared.get('t')") == [None], 15, what="'t' to expire")
        gone_at = ok(self.stub, "return grpc.now()")[0]
        self.assertGreaterEqual(gone_at - set_at, 0.9, "expired before its ttl of 1 s")
        self.assertEqual(ok(self.stub, "return shared.get('forever'), shared.get('long')"), ["y", "z"])
        # An expired key is absent for add and incr too.
        self.assertEqual(ok(self.stub, "return shared.add('t', 'again')"), [True, None, False])

    def test_incr_and_add_on_expired_keys(self):
        ok(self.stub, "shared.set('c', 5, 0.2) shared.set('a', 1, 0.2)")
        wait_until(lambda: ok(self.stub, "return shared.get('c'), shared.get('a')") == [None, None], 15,
                   what="the keys to expire")
        self.assertEqual(ok(self.stub, "local v, err = shared.incr('c', 1) return v, err, shared.incr('c', 1, 100)"),
                         [None, "not found", 101, None, False])
        self.assertEqual(ok(self.stub, "return shared.add('a', 2)"), [True, None, False])

    def test_setting_again_resets_the_ttl(self):
        ok(self.stub, "shared.set('r', 1, 0.2) shared.set('r', 2)")
        # 'r' has no ttl now: it is there after the first one would have passed.
        start = ok(self.stub, "return grpc.now()")[0]
        wait_until(lambda: ok(self.stub, "return grpc.now()")[0] - start > 0.4, 5, what="0.4 s")
        self.assertEqual(ok(self.stub, "return shared.get('r')"), [2])


class ReloadTest(unittest.TestCase):
    def test_values_outlive_a_hot_edit(self):
        host = snippet_host(workers=2, watch=True)
        with host:
            stub = host.greeter_stub()
            ok(stub, "shared.set('kept', 'before the edit')")
            path = os.path.join(host.scripts_dir, "greeter.lua")
            with open(path + ".tmp", "w") as f:
                f.write(script("v2"))
            os.rename(path + ".tmp", path)
            host.wait_log("msg=reloaded", timeout=10)
            wait_until(lambda: ok(stub, "return VERSION") == ["v2"], 10, what="the edited script to run")
            for each in stub_per_worker(host):
                self.assertEqual(ok(each, "return VERSION, shared.get('kept')"), ["v2", "before the edit"])
            # The new states loaded into the same store: two numbers more.
            self.assertEqual(ok(stub, "return shared.get('test:states')"), [4])


class EvictionTest(SnippetTestCase):
    host_options = {"workers": 2, "args": ["--shared-memory-mb", "1"]}

    def test_least_recently_used_keys_go_with_one_log_line(self):
        mark = self.host.mark()
        forced, first_gone, last_there, hot, took = ok(self.stub, metadata=[("x-fc-request-id", "evict")],
                                                       chunk="""
            local t0 = grpc.now()
            shared.set('hot', 'keep me')
            local forced = false
            for i = 1, 3000 do
              local _, _, f = shared.set('k' .. i, string.rep('v', 1000))
              forced = forced or f
              assert(shared.get('hot'), 'the key read all along was evicted at ' .. i)
            end
            return forced, shared.get('k1') == nil, shared.get('k3000') ~= nil, shared.get('hot'),
                   grpc.now() - t0""")
        self.assertEqual((forced, first_gone, last_there, hot), (True, True, True, "keep me"))
        line = self.host.wait_log("least recently used keys are evicted", start=mark)
        self.assertIn("shared_memory_mb=1", line)
        evicted = int(re.search(r"\bevicted=(\d+)", line).group(1))
        self.assertGreater(evicted, 0)
        # The call's own line comes after every eviction line it caused (one worker's lines keep their order).
        self.host.wait_log("request_id=evict", start=mark)
        lines = [l for l in self.host.lines[mark:] if "keys are evicted" in l]
        self.assertLessEqual(len(lines), 2 + int(took), "one line a second at most:\n" + "\n".join(lines))
        # The cap holds: what is left of 3000 values of 1000 bytes fits in 1 MiB, and not far less.
        kept = ok(self.stub, "local n = 0 for i = 1, 3000 do if shared.get('k' .. i) then n = n + 1 end end "
                             "return n")[0]
        self.assertLess(kept * 1000, 1024 * 1024)
        self.assertGreater(kept, 600)

    def test_an_entry_larger_than_a_shard_raises(self):
        _, code, details = run(self.stub, "shared.set('big', string.rep('x', 100 * 1024))")
        self.assertEqual(code, grpc.StatusCode.UNKNOWN)
        self.assertRegex(details, r"would take \d+ bytes, more than the \d+ one entry may take")


if __name__ == "__main__":
    unittest.main()
