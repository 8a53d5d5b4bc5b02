"""A short soak (issue 9): tests/soak/soak.py for ~20 s, all four call kinds mixed with random
cancels, errors, short deadlines and dropped channels. Every call must end with a status, the
host's RSS must stay flat after warm-up and its descriptors must come back to where they
started. The 10-minute run is `python3 tests/soak/soak.py` (see its --help)."""

import os
import sys
import unittest

from harness import Host

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak"))
import soak  # noqa: E402

DURATION = float(os.environ.get("SOAK_SECONDS", "20"))
RSS_GROWTH_MB = 20      # after warm-up
FD_SLACK = 2


class SoakTest(unittest.TestCase):
    def test_short_soak(self):
        with Host(workers=2, args=["--quiet"]) as host:
            r = soak.soak(host.target, host.proc.pid, DURATION, threads=8, warmup=DURATION / 4,
                          out=sys.stderr)
            sys.stderr.write("\n" + soak.summary(r) + "\n")
            self.assertTrue(r["host_alive"], host.output())
            self.assertEqual(r["client_errors"], [])
            self.assertEqual(r["stuck_threads"], [])
            self.assertEqual(r["without_status"], 0)
            self.assertEqual(r["hung"], 0, r["by_kind"])
            self.assertGreater(r["calls"], DURATION * 20)
            kinds = set(r["by_kind"])
            self.assertTrue({"unary", "server_stream", "client_stream", "bidi"} <= kinds, kinds)
            for kind, codes in r["by_kind"].items():
                if kind != "abandoned":
                    self.assertIn("OK", codes, kind)
            # Every client channel is closed by now: the descriptors are back.
            self.assertLessEqual(r["end"]["fds"], r["start"]["fds"] + FD_SLACK, r)
            if not r["sanitized"]:
                grown = r["end"]["rss_mb"] - r["after_warmup"]["rss_mb"]
                self.assertLess(grown, RSS_GROWTH_MB, "RSS grew %.1f MB after warm-up: %r" % (grown, r))


if __name__ == "__main__":
    unittest.main()
