#!/usr/bin/python3
"""The HTTP API (issue 7) on a real 3-node cluster: every endpoint answers what the
CLI answers for the same query, bad requests get 4xx with a message naming what to
fix, every response validates against web/openapi.yaml, and events sent by
POST /v1/events and /p.gif are counted exactly.

Usage: http_test.py EDDY_BINARY SOURCE_DIR BASE_PORT [unittest args]
Ports: ingest BASE.., peer BASE+100.., HTTP BASE+250.. (scripts/cluster.sh); a second
one-node cluster for the rate limit at BASE+20.
"""
from http.client import HTTPConnection
import json
import os
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness
from harness import Cluster, run, wait_until

sys.argv = harness.setup(sys.argv)
EDDY, SRC, BASE_PORT = harness.EDDY, harness.SRC, harness.BASE_PORT

import jsonschema  # python3-jsonschema (scripts/setup.sh)
import yaml        # python3-yaml

SPEC = yaml.safe_load(open(os.path.join(SRC, "web", "openapi.yaml")))
# A 4-hour shop with 3 surges, the same bytes every run (as trending_test.py).
FEED = ["--seed", "7", "--start", "1700000000000", "--hours", "4",
        "--sessions-per-minute", "40", "--surges", "3", "--items", "300"]
HTTP_OFFSET = 250
EXERCISED = set()  # (path template, method, status) seen by check()


def http(c, path, node=0, method="GET", body=None, headers=None):
    """(status, headers, body bytes) of one request to node `node` of cluster `c`."""
    url = f"http://127.0.0.1:{c.base + HTTP_OFFSET + node}{path}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def schema_for(template, method, status):
    op = SPEC["paths"][template][method.lower()]
    resp = op["responses"][str(status)]
    if "$ref" in resp:
        resp = SPEC["components"]["responses"][resp["$ref"].split("/")[-1]]
    return resp.get("content", {})


def check(template, status, hdrs, body, method="GET"):
    """Validates a response against the OpenAPI file; returns its JSON (or None)."""
    content = schema_for(template, method, status)
    EXERCISED.add((template, method.lower(), status))
    ctype = hdrs.get("Content-Type", "").split(";")[0]
    assert ctype in content, f"{method} {template} {status}: {ctype} not in {list(content)}"
    schema = content[ctype].get("schema")
    if schema is None:
        return None
    doc = json.loads(body)
    # The schema with the file's components beside it, so "#/components/..." resolves.
    jsonschema.Draft202012Validator(dict(schema, components=SPEC["components"])).validate(doc)
    return doc


def get(c, template, path, node=0, want=200):
    status, hdrs, body = http(c, path, node)
    if status != want:
        raise AssertionError(f"GET {path} on node {node}: {status}, wanted {want}: {body[:300]}")
    return check(template, status, hdrs, body)


def cli(c, *args, node=0, check_rc=True):
    r = run([EDDY, *args, "--json", "--connect", c.endpoint(node)], env=c.env, check=check_rc)
    return json.loads(r.stdout) if r.returncode == 0 else None


def evaluation(c):
    """`eddy eval --json` of the test feed: an evaluation table as the CLI makes it."""
    feed = os.path.join(c.dir, "eval-feed.msgpack")
    run([EDDY, "generate", *FEED, "-o", feed], env=c.env)
    return json.loads(run([EDDY, "eval", feed, "--factors", "8", "--iterations", "2",
                           "--json"], env=c.env).stdout)


def strip(j, *keys):
    j = dict(j)
    for k in ("queried_by",) + keys:
        j.pop(k, None)
    return j


class HttpThreeNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        extra = os.path.join(harness.tempfile.mkdtemp(prefix="eddy-http-"), "extra.toml")
        with open(extra, "w") as f:
            # Short waits so the "owner is down" test answers 503 quickly.
            f.write("[http]\ntimeout_ms = 1500\n")
        os.environ["EDDY_EXTRA_CONFIG"] = extra
        try:
            cls.c = Cluster(3, BASE_PORT)
        finally:
            del os.environ["EDDY_EXTRA_CONFIG"]
        r = run([EDDY, "produce", "--connect", cls.c.endpoint(0), "--summary", "json",
                 "--producer", "feed", *FEED], env=cls.c.env)
        cls.fed = json.loads(r.stdout)
        assert cls.fed["ok"], cls.fed
        cls.trained = json.loads(run([EDDY, "train", "--connect", cls.c.endpoint(0), "--json",
                                      "--factors", "16", "--iterations", "4"],
                                     env=cls.c.env).stdout)

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_1_queries_equal_the_cli(self):
        c = self.c
        top = cli(c, "popular", "-k", "3")["items"]
        self.assertEqual(len(top), 3)
        item = urllib.parse.quote(top[0]["item"], safe="")
        pairs = [
            ("/v1/trending", "/v1/trending?k=20", ["trending", "-k", "20"]),
            ("/v1/trending", "/v1/trending?type=cart&min_support=1",
             ["trending", "--type", "cart", "--min-support", "1"]),
            ("/v1/trending", "/v1/trending", ["trending"]),
            ("/v1/popular", "/v1/popular?k=20", ["popular", "-k", "20"]),
            ("/v1/popular", "/v1/popular?by=decayed&type=purchase",
             ["popular", "--by", "decayed", "--type", "purchase"]),
            ("/v1/items/{item}/series", f"/v1/items/{item}/series", ["series", top[0]["item"]]),
            ("/v1/items/{item}/series", f"/v1/items/{item}/series?type=view",
             ["series", top[0]["item"], "--type", "view"]),
        ]
        for node in (0, 1, 2):
            for template, path, args in pairs:
                want = strip(cli(c, *args, node=node))
                got = get(c, template, path, node)
                self.assertEqual(got["queried_by"], f"n{node + 1}")
                self.assertEqual(strip(got), want, f"{path} on node {node + 1}")
            got = get(c, "/v1/cluster", "/v1/cluster", node)
            want = cli(c, "status", node=node)
            self.assertEqual(strip(got, "ingest_rate_per_s", "rate_window_s"), strip(want))
            self.assertEqual(got["total_events"], self.fed["stored"])
        self.assertGreater(len(get(c, "/v1/trending", "/v1/trending?k=20")["items"]), 0)

    def test_2_models_equal_the_cli(self):
        c = self.c
        user = "1000"  # the generator's first user id
        for node in (0, 1):  # n1 trained; n2 asks it
            want = cli(c, "recommend", user, "-k", "5", node=node)
            got = get(c, "/v1/recommend/{user}", f"/v1/recommend/{user}?k=5", node)
            self.assertEqual(got, want)
            self.assertEqual(len(got["items"]), 5)
        want = cli(c, "recommend", user, "--include-seen", node=2)
        got = get(c, "/v1/recommend/{user}", f"/v1/recommend/{user}?include_seen=true", node=2)
        self.assertEqual(got, want)
        # Similar items: from any node, for one item and for a basket.
        top = cli(c, "popular", "-k", "2")["items"]
        a, b = top[0]["item"], top[1]["item"]
        for node in (0, 2):
            want = cli(c, "similar", a, "-k", "5", node=node)
            got = get(c, "/v1/similar/{item}", f"/v1/similar/{urllib.parse.quote(a)}?k=5", node)
            self.assertEqual(got, want)
            self.assertEqual(len(got["similar"]), 5)
            want = cli(c, "similar", a, b, "-k", "4", "--exclude", top[0]["item"], node=node)
            got = get(c, "/v1/similar", f"/v1/similar?items={a},{b}&k=4&exclude={a}", node)
            self.assertEqual(got, want)
        # The dashboard's model panel and /metrics read the version from these answers.
        self.assertIn("eddy_model_version", http(c, "/metrics")[2].decode())

    def test_3_bad_requests_get_4xx_naming_the_problem(self):
        c = self.c
        cases = [
            ("/v1/trending", "/v1/trending?k=0", 400, "k"),
            ("/v1/trending", "/v1/trending?k=abc", 400, "k"),
            ("/v1/trending", "/v1/trending?kk=3", 400, "kk"),
            ("/v1/trending", "/v1/trending?type=teleport", 400, "type"),
            ("/v1/trending", "/v1/trending?min_support=-2", 400, "min_support"),
            ("/v1/popular", "/v1/popular?by=fame", 400, "by"),
            ("/v1/popular", "/v1/popular?window=1h", 400, "window"),
            ("/v1/items/{item}/series", "/v1/items/no-such-item/series", 404, "no-such-item"),
            ("/v1/recommend/{user}", "/v1/recommend/no-such-user", 404, "no-such-user"),
            ("/v1/recommend/{user}", "/v1/recommend/1000?include_seen=maybe", 400, "include_seen"),
            ("/v1/similar/{item}", "/v1/similar/no-such-item", 404, "no-such-item"),
            ("/v1/similar", "/v1/similar?k=3", 400, "items"),
            ("/v1/similar/{item}", "/v1/similar/x?days=soon", 400, "days"),
            ("/p.gif", "/p.gif?u=v1", 400, "i"),
            ("/p.gif", "/p.gif?u=v1&i=x&t=teleport", 400, "teleport"),
            ("/p.gif", "/p.gif?u=v1&i=x&ts=yesterday", 400, "ts"),
        ]
        for template, path, want, names in cases:
            status, hdrs, body = http(c, path)
            self.assertEqual(status, want, f"{path}: {body[:200]}")
            doc = check(template, status, hdrs, body)
            self.assertIn(names, doc["error"], path)
        # No such route.
        status, hdrs, body = http(c, "/v1/nothing")
        self.assertEqual(status, 404)
        self.assertIn("/v1/nothing", json.loads(body)["error"])
        # Bodies: not JSON, no events array, too many events, too many bytes.
        post = lambda b: http(c, "/v1/events", method="POST", body=b,
                              headers={"Content-Type": "application/json"})
        for body, want, names in [
            (b"{not json", 400, "JSON"),
            (b'{"evts": []}', 400, "events"),
            (json.dumps({"events": [{"user": "u", "item": "i", "type": "view"}] * 10001}).encode(),
             413, "max_events"),
            (b'{"events": [' + b" " * (1 << 20) + b"]}", 413, "max_body_bytes"),
        ]:
            status, hdrs, resp = post(body)
            self.assertEqual(status, want, resp[:200])
            self.assertIn(names, check("/v1/events", status, hdrs, resp, "POST")["error"])

    def test_4_events_are_counted_exactly(self):
        c = self.c
        before = c.total()
        events = [
            {"user": "h1", "item": "http-a", "type": "view", "ts": 1700000000000},
            {"user": "h1", "item": "http-a", "type": "cart", "ts": 1700000001000},
            {"user": "h1", "item": "http-a", "type": "teleport"},           # unknown type
            {"user": "h2", "item": "http-b", "type": "purchase", "value": 2},
            {"item": "http-b", "type": "view"},                             # no user
            {"user": "h2", "item": "http-c", "type": "addtocart"},          # an alias
            {"user": "h3", "item": "http-c", "type": 1, "ts": "soon"},      # bad ts
            {"user": "h3", "item": "x" * 300, "type": "view"},              # id too long
            "not an object",
            {"user": "h4", "item": "http,a&b=c%d", "type": "view"},  # ts: now
        ]
        status, hdrs, body = http(c, "/v1/events", node=1, method="POST",
                                  body=json.dumps({"events": events}).encode())
        self.assertEqual(status, 200, body)
        r = check("/v1/events", status, hdrs, body, "POST")
        self.assertEqual(r["received"], len(events))
        self.assertEqual(r["stored"], 5)
        self.assertFalse(r["duplicate"])
        self.assertEqual([(x["index"], x["reason"]) for x in r["rejects"]],
                         [(2, "unknown_type"), (4, "missing_field"), (6, "wrong_field_type"),
                          (7, "id_too_long"), (8, "wrong_field_type")])
        # The pixel: GET three times, POST (sendBeacon) once.
        for i in range(3):
            status, hdrs, body = http(c, f"/p.gif?u=pixel-visitor&i=http-px&t=view&ts={1700000002000 + i}",
                                      node=2)
            self.assertEqual(status, 200, body)
            check("/p.gif", status, hdrs, body)
            self.assertEqual(hdrs["Content-Type"], "image/gif")
            self.assertEqual(body[:6], b"GIF89a")
            self.assertEqual(len(body), 43)
            self.assertIn("no-store", hdrs["Cache-Control"])
        status, hdrs, body = http(c, "/p.gif?u=pixel-visitor&i=http-px&t=purchase", node=0,
                                  method="POST", body=b"")
        self.assertEqual(status, 200, body)
        check("/p.gif", status, hdrs, body, "POST")
        for item, n in (("http-a", 2), ("http-b", 1), ("http-c", 1), ("http-px", 4),
                        ("http,a&b=c%d", 1)):
            self.assertEqual(c.count(item)["item_count"], n, item)
        self.assertEqual(c.total(), before + 9)
        # An id with the list separator and query characters, in a path.
        odd = "http,a&b=c%d"
        got = get(c, "/v1/items/{item}/series", f"/v1/items/{urllib.parse.quote(odd, safe='')}/series")
        self.assertEqual(strip(got), strip(cli(c, "series", odd)))
        self.assertEqual(got["item"], odd)
        # /metrics of node 2 counted the 4 stored events it took and its 5 rejects.
        text = http(c, "/metrics", node=1)[2].decode()
        self.assertIn("eddy_http_events_stored_total 5\n", text)
        self.assertIn('eddy_http_events_rejected_total{reason="unknown_type"} 1\n', text)
        self.assertIn('eddy_http_events_rejected_total{reason="id_too_long"} 1\n', text)
        # The model behind the similar-items table (n1 served similar answers in test 2).
        text = http(c, "/metrics", node=0)[2].decode()
        self.assertIn("eddy_model_version 1\n", text)
        self.assertIn("eddy_model_recall_at_10 ", text)
        for name in ("eddy_events_stored_total", "eddy_http_ingest_ack_seconds_bucket",
                     "eddy_ingest_pending_batches", "eddy_trending_state_bytes",
                     "eddy_http_request_duration_seconds_count", "eddy_node_up{node=\"n3\"} 1"):
            self.assertIn(name, text)

    def test_5_health_cluster_rate_and_static_files(self):
        c = self.c
        doc = get(c, "/healthz", "/healthz", node=2)
        self.assertEqual(doc, {"status": "ok", "node": "n3"})
        # The ingest rate needs two answers half a second apart: poll with a deadline.
        wait_until(lambda: get(c, "/v1/cluster", "/v1/cluster")["ingest_rate_per_s"] is not None,
                   10, "an ingest rate")
        for path, ctype in (("/", "text/html"), ("/index.html", "text/html"),
                            ("/app.js", "text/javascript"), ("/pixel.js", "text/javascript"),
                            ("/style.css", "text/css"), ("/openapi.yaml", "application/yaml")):
            status, hdrs, body = http(c, path)
            self.assertEqual(status, 200, path)
            self.assertTrue(hdrs["Content-Type"].startswith(ctype), (path, hdrs))
            name = "index.html" if path == "/" else path[1:]
            with open(os.path.join(SRC, "web", name), "rb") as f:
                self.assertEqual(body, f.read(), path)
        EXERCISED.add(("/", "get", 200))
        EXERCISED.add(("/metrics", "get", 200))

    def items_in_model(self, want=6):
        """`want` items of the feed the current model has lists for (the generator's
        ids are "100000".., the most popular first; events the tests sent later are
        not in the model)."""
        c, found = self.c, []
        for i in range(100000, 100300):
            answer = run([EDDY, "similar", str(i), "--json", "--connect", c.endpoint(0)],
                         env=c.env, check=False).stdout
            if "error" not in json.loads(answer):
                found.append(str(i))
            if len(found) == want:
                break
        return found

    def test_6_ids_with_slashes_and_reserved_characters_in_paths(self):
        c = self.c
        odd = "cat/shoes?size=4#red %2F"  # '/', '?', '#', ' ' and a literal "%2F"
        user = "visitor/7"
        events = [{"user": user, "item": odd, "type": "view"},  # ts: now, in the horizon
                  {"user": user, "item": odd, "type": "cart"}]
        status, hdrs, body = http(c, "/v1/events", node=2, method="POST",
                                  body=json.dumps({"events": events}).encode())
        self.assertEqual(check("/v1/events", status, hdrs, body, "POST")["stored"], 2)
        self.assertEqual(c.count(odd)["item_count"], 2)
        path = urllib.parse.quote(odd, safe="")  # '/' -> %2F, '%' -> %25
        self.assertIn("%2F", path)
        for node in (0, 1, 2):
            got = get(c, "/v1/items/{item}/series", f"/v1/items/{path}/series", node)
            self.assertEqual(got["item"], odd)
            self.assertEqual(strip(got), strip(cli(c, "series", odd, node=node)))
        # Not in the model (it came after training): 404 naming the decoded id, like the CLI.
        for template, url, name in (
                ("/v1/similar/{item}", f"/v1/similar/{path}", odd),
                ("/v1/recommend/{user}", f"/v1/recommend/{urllib.parse.quote(user, safe='')}", user),
                ("/v1/similar/{item}", "/v1/similar/a%2Fb", "a/b")):
            status, hdrs, body = http(c, url)
            self.assertEqual(status, 404, body)
            self.assertIn(f"'{name}'", check(template, status, hdrs, body)["error"], url)
        # An empty id segment is no route.
        self.assertEqual(http(c, "/v1/similar/")[0], 404)

    def test_7_model_metrics_and_a_new_model_version(self):
        c = self.c
        items = self.items_in_model()
        want = cli(c, "similar", items[0], "-k", "1")
        for node in (0, 1, 2):
            m = get(c, "/v1/model", "/v1/model", node)
            self.assertEqual(m["queried_by"], f"n{node + 1}")
            self.assertIsNone(m["evaluation"])
            self.assertTrue(m["hint"])
            self.assertIsNotNone(m["similar"], m)  # every node reads its models directory
            self.assertEqual((m["model"], m["version"], m["trained_by"]),
                             (want["model"], want["model_version"], "n1"))
            # SIMILAR.json keeps recall@10 to 4 digits, the answers to 6.
            self.assertAlmostEqual(m["recall_at_10"], want["recall_at_10"], places=3)
            self.assertEqual(m["similar"]["version"], want["model_version"])
            if node == 0:  # n1 trained it: its MODEL.json is there
                self.assertEqual(m["training"]["version"], want["model_version"])
                self.assertIn("eddy eval", m["hint"])
            else:
                self.assertIsNone(m["training"])
                self.assertIn("node n1", m["hint"])
        status, hdrs, body = http(c, "/v1/model?k=3")
        self.assertEqual(status, 400)
        self.assertIn("k", check("/v1/model", status, hdrs, body)["error"])
        # Shard-log bytes of each node: more than the 60-byte events it owns can be
        # stored in (every node owns some of the feed's items).
        for node in (0, 1, 2):
            text = http(c, "/metrics", node=node)[2].decode()
            line = [l for l in text.splitlines() if l.startswith("eddy_log_bytes ")]
            self.assertEqual(len(line), 1, text[:500])
            self.assertGreater(int(line[0].split()[1]), 0)
        # A node keeps the answers owners gave it for /v1/similar/{item} and gives
        # them again itself while its own table is the owner's: the second request
        # for another node's item is a kept answer, and still the CLI's.
        def kept_hits(node):
            text = http(c, "/metrics", node=node)[2].decode()
            line = [l for l in text.splitlines()
                    if l.startswith("eddy_http_similar_cache_hits_total ")]
            self.assertEqual(len(line), 1, text[:500])
            return int(line[0].split()[1])
        before = [kept_hits(node) for node in (0, 1, 2)]
        for node in (0, 1, 2):
            for item in items[:6]:
                want = cli(c, "similar", item, "-k", "5", node=node)
                for _ in range(2):
                    got = get(c, "/v1/similar/{item}",
                              f"/v1/similar/{urllib.parse.quote(item, safe='')}?k=5", node)
                    self.assertEqual(got, want, (node, item))
        self.assertGreater(sum(kept_hits(node) for node in (0, 1, 2)), sum(before))
        # (The same requests after the next model must not get these answers.)
        # A new model: every node's answers switch to version 2 (no stale cache), and
        # still equal the CLI, for an item of each node.
        run([EDDY, "train", "--connect", c.endpoint(0), "--json", "--factors", "16",
             "--iterations", "2"], env=c.env)
        items = self.items_in_model()
        self.assertGreaterEqual(len(items), 6)
        for node in (0, 1, 2):
            for item in items[:6]:
                want = cli(c, "similar", item, "-k", "5", node=node)
                got = get(c, "/v1/similar/{item}",
                          f"/v1/similar/{urllib.parse.quote(item, safe='')}?k=5", node)
                self.assertEqual(got, want, (node, item))
                self.assertEqual(got["model_version"], 2)
            m = get(c, "/v1/model", "/v1/model", node)
            self.assertEqual((m["model"], m["version"], m["trained_by"]),
                             ("n1/als-2", 2, "n1"))
        # An evaluation saved beside the trainer's MODEL.json (what `eddy eval --json`
        # prints) is served with the model and matches the OpenAPI file.
        doc = evaluation(c)
        with open(os.path.join(c.dir, "data", "n1", "models", "als-2", "EVAL.json"), "w") as f:
            json.dump(doc, f)
        m = get(c, "/v1/model", "/v1/model")
        self.assertEqual(m["evaluation"], doc)
        self.assertIsNone(m["hint"])

    def test_8_every_documented_endpoint_was_exercised(self):
        documented = {(p, m) for p, ops in SPEC["paths"].items() for m in ops}
        seen = {(p, m) for p, m, s in EXERCISED}
        self.assertEqual(documented - seen, set())

    def test_9_owner_down_is_503_and_nothing_is_stored(self):
        c = self.c
        run([harness.CLUSTER, "kill", "n3"], env=c.env)

        def n3_dead():  # 503 while n1 still waits for n3's answer (timeout_ms 1500 < 3 s)
            status, hdrs, body = http(c, "/v1/cluster")
            return status == 200 and not json.loads(body)["nodes"][2]["alive"]
        wait_until(n3_dead, 15, "n1 to see n3 dead")
        # Find an item n3 owns: its events cannot be stored while n3 is down.
        for i in range(200):
            item = f"down-{i}"
            status, hdrs, body = http(c, "/v1/events", method="POST", body=json.dumps(
                {"events": [{"user": "d", "item": item, "type": "view"}]}).encode())
            if status == 503:
                doc = check("/v1/events", status, hdrs, body, "POST")
                self.assertIn("n3", doc["error"])
                break
            self.assertEqual(status, 200, body)
        else:
            self.fail("no item of n3 among 200")
        run([harness.CLUSTER, "restart", "n3"], env=c.env)
        self.assertEqual(c.count(item)["item_count"], 0)


class HttpLimits(unittest.TestCase):
    """One node with 2 HTTP threads and a rate limit of 6 requests per client."""

    def test_more_clients_than_threads_and_the_rate_limit(self):
        extra = os.path.join(harness.tempfile.mkdtemp(prefix="eddy-http-"), "extra.toml")
        with open(extra, "w") as f:
            f.write("[http]\nthreads = 2\nrate_limit_per_s = 0.001\nrate_limit_burst = 6\n")
        os.environ["EDDY_EXTRA_CONFIG"] = extra
        try:
            c = Cluster(1, BASE_PORT + 20)
        finally:
            del os.environ["EDDY_EXTRA_CONFIG"]
        try:
            # Three browsers that keep their connections open after one request each:
            # with 2 threads the third waits until an idle one is closed (1 s).
            port = c.base + HTTP_OFFSET
            idle = [HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(3)]
            t0 = time.monotonic()
            for conn in idle:
                conn.request("GET", "/healthz")
                self.assertEqual(conn.getresponse().read(), b'{"status":"ok","node":"n1"}')
            status, hdrs, body = http(c, "/healthz")  # a fourth client
            self.assertEqual(status, 200, body)
            self.assertLess(time.monotonic() - t0, 4.0)  # httplib default: 5 s
            for conn in idle:
                conn.close()
            # 4 of the 6 requests of the burst are used; the rate refills 1 per 1000 s.
            codes = [http(c, "/healthz")[0] for _ in range(3)]
            self.assertEqual(codes, [200, 200, 429])
            status, hdrs, body = http(c, "/v1/trending")
            self.assertEqual(status, 429)
            self.assertEqual(hdrs.get("Retry-After"), "1")
            self.assertIn("rate_limit_per_s", json.loads(body)["error"])
        finally:
            c.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
