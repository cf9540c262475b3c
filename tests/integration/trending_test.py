#!/usr/bin/python3
"""Trending and popular items on a real cluster (issue 4): node processes on
loopback fed by `eddy produce`, asked through `eddy trending | popular | series |
status --trending`. Every node gives the same answer; a killed and restarted node
rebuilds exactly the state it had; the trending list finds injected surges.

Usage: trending_test.py EDDY_BINARY SOURCE_DIR BASE_PORT [unittest args]
"""
import json
import os
import sys
import unittest

import harness
from harness import Cluster, run

sys.argv = harness.setup(sys.argv)
EDDY, BASE_PORT, CLUSTER = harness.EDDY, harness.BASE_PORT, harness.CLUSTER

# A 4-hour shop with 3 surges, same bytes every run (fixed seed and start).
FEED = ["--seed", "7", "--start", "1700000000000", "--hours", "4",
        "--sessions-per-minute", "60", "--surges", "3", "--items", "500"]


def ask(c, cmd, *args, node=0, check=True):
    r = run([EDDY, cmd, "--json", "--connect", c.endpoint(node), *args], env=c.env,
            check=check)
    if not check:
        return r
    j = json.loads(r.stdout)
    j.pop("queried_by", None)
    return j


class TrendingThreeNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(3, BASE_PORT)
        r = run([EDDY, "produce", "--connect", cls.c.endpoint(0), "--summary", "json",
                 "--producer", "feed", *FEED], env=cls.c.env)
        cls.fed = json.loads(r.stdout)
        assert cls.fed["ok"], cls.fed

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def queries(self):
        top = ask(self.c, "popular", "-k", "3")["items"]
        self.assertEqual(len(top), 3)
        return [("trending", "-k", "20"), ("trending", "--type", "cart", "--min-support", "1"),
                ("popular", "-k", "20"), ("popular", "--by", "decayed", "--type", "purchase"),
                ("series", top[0]["item"]), ("series", top[2]["item"], "--type", "view")]

    def answers(self):
        return {q: ask(self.c, *q) for q in self.queries()}

    def test_1_every_node_gives_the_same_answer(self):
        a = self.answers()
        for node in (1, 2):
            for q, want in a.items():
                self.assertEqual(ask(self.c, *q, node=node), want, f"{q} via node {node + 1}")
        # Lists are ranked, and as of the newest event anywhere in the cluster.
        for q, j in a.items():
            self.assertTrue(j["complete"], j)
            self.assertIsNotNone(j["as_of_ms"])
            if q[0] != "series":
                values = [e.get("score", e.get("count", e.get("decayed_count")))
                          for e in j["items"]]
                self.assertEqual(values, sorted(values, reverse=True), q)
        self.assertGreater(len(a[("trending", "-k", "20")]["items"]), 0)
        self.assertEqual(a[("popular", "-k", "20")]["ranking"], "window")

    def test_2_series_agrees_with_the_trending_list(self):
        trending = ask(self.c, "trending", "-k", "5")
        for e in trending["items"]:
            s = ask(self.c, "series", e["item"])
            closed = [p for p in s["points"] if p["closed"]]
            self.assertTrue(closed, s)
            self.assertEqual(closed[-1]["score"], e["score"], e["item"])
            # The overall score is the item's strongest type's: that type's own
            # series shows the same score, from a count above its forecast.
            by_type = []
            for t in ("view", "cart", "purchase"):
                pts = [p for p in ask(self.c, "series", e["item"], "--type", t)["points"]
                       if p["closed"]]
                if pts:
                    by_type.append(pts[-1])
            best = max(by_type, key=lambda p: p["score"])
            self.assertEqual(best["score"], e["score"], e["item"])
            self.assertGreater(best["count"], best["forecast"], e["item"])

    def test_3_bad_queries_say_what_to_fix(self):
        r = ask(self.c, "trending", "--type", "teleport", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not an interaction type", r.stderr)
        self.assertIn("view", r.stderr)
        r = ask(self.c, "series", "no-such-item")
        self.assertFalse(r["known"])
        self.assertEqual(r["points"], [])

    def test_4_a_killed_node_rebuilds_the_same_state_from_its_logs(self):
        c = self.c
        state = ask(c, "status", "--trending")
        self.assertEqual(state["accepted"], self.fed["stored"], state)
        self.assertEqual(len(state["shards"]), 64)
        before = self.answers()
        run([CLUSTER, "kill", "n2"], env=c.env)
        run([CLUSTER, "restart", "n2"], env=c.env)
        after_state = ask(c, "status", "--trending")
        self.assertEqual(after_state["shards"], state["shards"])
        self.assertEqual(self.answers(), before)


class ScoreTrending(unittest.TestCase):
    def test_surges_are_found_and_steady_items_are_not_flagged(self):
        c = Cluster(3, BASE_PORT + 20)
        try:
            # The default scenario: 8 h of a busy shop with 10 surges.
            r = run([EDDY, "score-trending", "--connect", c.endpoint(1), "--summary", "json"],
                    env=c.env, timeout=600)
            s = json.loads(r.stdout)
            self.assertGreaterEqual(s["recall"], 0.9, s)
            self.assertGreaterEqual(s["precision"], 0.9, s)
            self.assertLessEqual(s["median_delay_buckets"], 1, s)
            self.assertEqual(s["surges"], 10, s)
            self.assertEqual(s["false_alerts"], [], s)
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
