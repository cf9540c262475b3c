#!/usr/bin/python3
"""Cluster tests with real processes: eddy nodes started by scripts/cluster.sh on
loopback, fed by `eddy ingest` and scripts/producer.py over ZeroMQ, checked through
`eddy count`. Nothing is faked; every wait is on a condition with a deadline.

Usage: cluster_test.py EDDY_BINARY SOURCE_DIR BASE_PORT [unittest args]
"""
import json
import os
import subprocess
import sys
import unittest

import harness
from harness import Cluster, produce, run, wait_until

sys.argv = harness.setup(sys.argv)
EDDY, BASE_PORT, CLUSTER = harness.EDDY, harness.BASE_PORT, harness.CLUSTER


class ThreeNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(3, BASE_PORT)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_1_two_producers_totals_match_acks(self):
        c = self.c
        before = c.total()
        # Producer 1: eddy ingest of a generated RetailRocket file, through node 2.
        csv = os.path.join(c.dir, "shop.csv")
        run([EDDY, "generate", "--seed", "5", "--events", "30000", "--format", "retailrocket",
             "-o", csv], env=c.env)
        ing = json.loads(run([EDDY, "ingest", "-s", "retailrocket-events", csv, "--connect",
                              c.endpoint(1), "--summary", "json", "--batch", "500",
                              "--dead-letter", os.path.join(c.dir, "ingest-rejects.jsonl")],
                             env=c.env).stdout)
        self.assertTrue(ing["ok"], ing)
        self.assertEqual(ing["stored"], 30000)
        # Producer 2: the Python producer, written from WIRE.md only, through node 3.
        py = produce(c, "--producer", "py-1", "--events", "20000", "--seed", "11", node=2)
        self.assertEqual(py["stored"], 20000, py)
        self.assertEqual(c.total(), before + 50000)
        # Per item: every node answers the same, and the totals are what was acked.
        expected = dict(py["acked_items"])
        with open(csv) as f:
            next(f)
            for line in f:
                item = line.split(",")[3]
                expected[item] = expected.get(item, 0) + 1
        sample = sorted(expected)[:: max(1, len(expected) // 25)]
        for item in sample:
            for node in range(3):
                got = c.count(item, node=node)["item_count"]
                self.assertEqual(got, expected[item], f"item {item} via node {node + 1}")

    def test_2_resending_acked_batches_changes_nothing(self):
        c = self.c
        first = produce(c, "--producer", "py-resend", "--events", "5000", "--seed", "3")
        total = c.total()
        again = produce(c, "--producer", "py-resend", "--events", "5000", "--seed", "3")
        self.assertEqual(again["stored"], 0, again)
        self.assertEqual(again["duplicates"], first["batches"], again)
        self.assertEqual(c.total(), total)

    def test_3_bad_events_are_named_in_acks_and_dead_letters(self):
        c = self.c
        total = c.total()
        r = produce(c, "--producer", "py-bad", "--events", "1000", "--bad-every", "10")
        bad = sum(r["rejects"].values())
        self.assertEqual(bad, 100, r)
        self.assertEqual(r["stored"], 900, r)
        self.assertEqual(c.total(), total + 900)
        # The node that received the batches wrote one dead letter per bad event.
        dl = os.path.join(c.dir, "data", "n1", "dead-letters.jsonl")
        with open(dl) as f:
            rows = [json.loads(l) for l in f if "py-bad" in l]
        self.assertEqual(len(rows), 100)
        self.assertTrue(all(row["reason"] and row["detail"] for row in rows))
        # A resend of the same batches is a duplicate: its rejects are named in the
        # acks again but not logged twice.
        again = produce(c, "--producer", "py-bad", "--events", "1000", "--bad-every", "10")
        self.assertEqual(sum(again["rejects"].values()), 100, again)
        self.assertEqual(again["stored"], 0, again)
        with open(dl) as f:
            self.assertEqual(sum(1 for l in f if "py-bad" in l), 100)

    def test_3b_oversized_frames_are_refused_with_a_reply(self):
        import msgpack
        import zmq
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.c.endpoint(0))
        try:
            corr = (424242).to_bytes(8, "big")
            # 5 MB: over the default max_frame_bytes (4 MiB), under ZeroMQ's 4x cap.
            big = b"\x01" + msgpack.packb({0: "big", 1: 1, 2: [{0: "u" * 200, 1: "i", 2: 1,
                                                                3: 1700000000000}] * 25000})
            self.assertGreater(len(big), 4 * 1024 * 1024)
            s.send_multipart([corr, big])
            self.assertTrue(s.poll(30000), "no reply to an oversized frame")
            reply_corr, ack = s.recv_multipart()
            self.assertEqual(reply_corr, corr)
            self.assertEqual(ack[0], 1)
            fields = msgpack.unpackb(ack[1:], strict_map_key=False)
            self.assertEqual(fields[2], 2, fields)  # refused
            self.assertIn("max_frame_bytes", fields[5])
        finally:
            s.close()
            ctx.term()

    def test_4_sigkill_during_ingest_loses_nothing_and_counts_nothing_twice(self):
        c = self.c
        total = c.total()
        # Paced (40k events/s for 5 s) so the kill lands in the middle of the stream.
        proc = subprocess.Popen(
            [EDDY, "produce", "--connect", c.endpoint(0), "--summary", "json",
             "--producer", "crash", "--events", "200000", "--rate", "40000",
             "--batch", "500", "--seed", "9", "--hours", "200",
             "--sessions-per-minute", "100", "--start", "1700000000000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=c.env)
        wait_until(lambda: c.count()["total_events"] > total + 20000, what="ingest under way")
        run([CLUSTER, "kill", "n2"], env=c.env)
        self.assertIsNone(proc.poll(), "the producer finished before the kill")
        run([CLUSTER, "restart", "n2"], env=c.env)
        out, err = proc.communicate(timeout=300)
        self.assertEqual(proc.returncode, 0, err)
        r = json.loads(out)
        # Every batch got its final ack. The acks' `stored` may undercount (a part
        # stored just before the kill is acked "duplicate" on resend), so the check is
        # on the cluster's totals: exactly what was sent, nothing lost, nothing twice.
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["events_sent"], 200000, r)
        self.assertEqual(c.total(), total + 200000)
        # Parts the killed node had taken but not acked come back as resends; parts
        # queued for it while it was down are delivered when it is back. Either way the
        # totals above are exact.


class ShardingInvariance(unittest.TestCase):
    def test_same_stream_same_totals_and_lists_on_1_2_3_nodes(self):
        answers = []
        for n, port in ((1, BASE_PORT + 20), (2, BASE_PORT + 30), (3, BASE_PORT + 40)):
            c = Cluster(n, port)
            try:
                r = produce(c, "--producer", "inv", "--events", "20000", "--seed", "21")
                self.assertEqual(r["stored"], 20000, (n, r.get("duplicates"), r.get("resends")))
                full = c.count()
                items = sorted(r["acked_items"])[::97]
                # Trending and popular lists too: every shard answers as of the
                # cluster's newest event, so the spread over nodes cannot show.
                lists = []
                for q in (["trending", "-k", "30", "--min-support", "1"], ["popular", "-k", "30"],
                          ["popular", "--by", "decayed"], ["series", items[0]]):
                    j = json.loads(run([EDDY, q[0], "--json", "--connect", c.endpoint(n - 1),
                                        *q[1:]], env=c.env).stdout)
                    j.pop("queried_by")
                    lists.append(j)
                self.assertTrue(lists[1]["items"], lists[1])
                answers.append(([s["events"] for s in full["shards"]],
                                {i: c.count(i)["item_count"] for i in items}, lists))
            finally:
                c.stop()
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0], answers[2])


if __name__ == "__main__":
    unittest.main(verbosity=2)
