#!/usr/bin/python3
"""A real browser against a real 3-node cluster (issue 7): headless Chromium (Debian's
chromium + chromium-driver, driven by python3-selenium) opens a small test shop that
embeds web/pixel.js from an eddy node, views, carts and buys a product, and the
cluster counts exactly those events, of the right types, from one visitor id kept in
a first-party cookie. Then it opens the dashboard and checks that the trending charts
and the tables are drawn and that the "You May Also Like" box answers; the screenshot
is saved as BUILD_DIR/test-artifacts/dashboard.png.

Usage: browser_test.py EDDY_BINARY SOURCE_DIR BASE_PORT [unittest args]
Ports: ingest BASE.., peer BASE+100.., HTTP BASE+250.. (scripts/cluster.sh); the
shop page is served by Python on a free port.
"""
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import tomllib
import unittest
import urllib.parse
import urllib.request

import harness
from harness import Cluster, run, wait_until

sys.argv = harness.setup(sys.argv)
EDDY, BASE_PORT = harness.EDDY, harness.BASE_PORT

from selenium import webdriver  # python3-selenium (scripts/setup.sh)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

# A 3-hour shop that ends now, so the pixel's events (time: now) land right after it,
# and the popular list, asked as of the newest event (test_2's surge, minutes ahead),
# still covers the shop.
FEED = ["--seed", "11", "--start", str(int(time.time() * 1000) - 3 * 3600 * 1000), "--hours",
        "3", "--sessions-per-minute", "40", "--surges", "3", "--items", "200"]
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(EDDY))),
                         "test-artifacts")

SHOP = """<!doctype html>
<html><head><meta charset="utf-8"><title>Test shop</title></head>
<body>
<h1>Blue kettle</h1>
<button id="cart" onclick="eddy.cart('{sku}')">Add to cart</button>
<button id="buy" onclick="eddy.purchase('{sku}', 1); document.title = 'bought'">Buy</button>
<script>window.eddy = window.eddy || [];</script>
<script src="{node}/pixel.js" data-item="{sku}"></script>
</body></html>
"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster(3, BASE_PORT)
        cls.node = f"http://127.0.0.1:{BASE_PORT + 250}"
        r = run([EDDY, "produce", "--connect", cls.c.endpoint(0), "--summary", "json",
                 "--producer", "feed", *FEED], env=cls.c.env)
        assert json.loads(r.stdout)["ok"], r.stdout
        run([EDDY, "train", "--connect", cls.c.endpoint(0), "--json", "--factors", "8",
             "--iterations", "3"], env=cls.c.env)
        # The shop: another origin than the eddy node, as on a real site.
        cls.shop_dir = tempfile.mkdtemp(prefix="eddy-shop-")
        cls.sku = "shop-sku-42"
        with open(os.path.join(cls.shop_dir, "index.html"), "w") as f:
            f.write(SHOP.format(sku=cls.sku, node=cls.node))
        cls.shop = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=cls.shop_dir))
        threading.Thread(target=cls.shop.serve_forever, daemon=True).start()
        cls.shop_url = f"http://127.0.0.1:{cls.shop.server_address[1]}/index.html"
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        cls.profile = tempfile.mkdtemp(prefix="eddy-chromium-")
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,1900", f"--user-data-dir={cls.profile}"):
            opts.add_argument(a)
        cls.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        cls.driver.set_page_load_timeout(60)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.shop.shutdown()
        cls.c.stop()
        shutil.rmtree(cls.shop_dir, ignore_errors=True)
        shutil.rmtree(cls.profile, ignore_errors=True)

    def count(self, item):
        return self.c.count(item)["item_count"]

    def typed(self, item, t):
        url = f"{self.node}/v1/items/{urllib.parse.quote(item)}/series?type={t}"
        with urllib.request.urlopen(url, timeout=30) as r:
            return sum(p["count"] for p in json.load(r)["points"])

    def test_1_shop_pixel_events_are_counted_exactly(self):
        d = self.driver
        d.get(self.shop_url)  # data-item: one view on load
        wait_until(lambda: self.count(self.sku) == 1, 30, "the view to be stored")
        d.find_element(By.ID, "cart").click()
        wait_until(lambda: self.count(self.sku) == 2, 30, "the cart event")
        d.find_element(By.ID, "buy").click()
        wait_until(lambda: self.count(self.sku) == 3, 30, "the purchase")
        self.assertEqual([self.typed(self.sku, t) for t in ("view", "cart", "purchase")],
                         [1, 1, 1])
        visitor = d.get_cookie("eddy_vid")
        self.assertIsNotNone(visitor, "no first-party visitor cookie")
        self.assertEqual(d.execute_script("return eddy.visitor()"), visitor["value"])
        # A second page view: the same visitor, one more event.
        d.get(self.shop_url)
        wait_until(lambda: self.count(self.sku) == 4, 30, "the second view")
        self.assertEqual(d.get_cookie("eddy_vid")["value"], visitor["value"])
        # Without sendBeacon the pixel falls back to an image request.
        d.execute_script("navigator.sendBeacon = undefined; eddy.view('shop-sku-img');")
        wait_until(lambda: self.count("shop-sku-img") == 1, 30, "the image-request view")
        # Nothing else arrived: the shop item has exactly its four events.
        self.assertEqual(self.count(self.sku), 4)

    # One consistent look at the dashboard's DOM (it redraws itself every second).
    SNAPSHOT = """
      const rows = t => [...document.querySelectorAll('#' + t + ' tbody tr[data-item]')]
        .map(r => r.dataset.item);
      const pts = (c, cls) => { const l = c.querySelector('polyline.' + cls);
        return l ? l.getAttribute('points').trim().split(/\\s+/).length : 0; };
      return {
        refreshes: Number(document.body.dataset.refreshes || 0),
        trending: rows('trending-table'), popular: rows('popular-table'),
        charts: [...document.querySelectorAll('#trending-charts .chart')].map(c => (
          {item: c.dataset.item, count: pts(c, 'count'), forecast: pts(c, 'forecast')})),
        alive: [...document.querySelectorAll('#cluster-table tbody tr')]
          .map(r => r.children[1].textContent)};
    """

    def surge_in_the_last_closed_bucket(self, item):
        """Views of `item` in one future bucket, then one event that closes it (a bucket
        closes lateness_ms after its end): that bucket becomes every shard's last closed
        one, and `item` the only one trending in it. The generated shop alone left the
        list empty in about one run in ten (its surges end earlier, and what the last
        closed minute holds depends on the wall clock)."""
        with open(os.path.join(self.c.dir, "cluster.toml"), "rb") as f:
            t = tomllib.load(f).get("trending", {})
        bucket = t.get("bucket_ms", 60_000)    # trending_params' defaults
        lateness = t.get("lateness_ms", 120_000)
        views = 2 * t.get("min_support", 5)
        start = (int(time.time() * 1000) // bucket + 5) * bucket
        events = [{"user": f"surge-u{i}", "item": item, "type": "view", "ts": start + i}
                  for i in range(views)]
        events.append({"user": "surge-closer", "item": "surge-closer", "type": "view",
                       "ts": start + bucket + lateness})
        path = os.path.join(self.c.dir, "surge.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(e) + "\n" for e in events)
        sent = harness.produce(self.c, "--input", path, "--producer", "browser-surge")
        self.assertEqual(sent["stored"], len(events), sent)

    def test_2_dashboard_draws_charts_and_tables(self):
        d = self.driver
        self.surge_in_the_last_closed_bucket("surging-sku")
        d.get(f"{self.node}/?refresh=1")
        snap = {}

        def drawn():
            snap.update(d.execute_script(self.SNAPSHOT))
            return (snap["refreshes"] >= 1 and snap["trending"] and snap["popular"] and
                    snap["charts"] and snap["charts"][0]["item"] == snap["trending"][0])
        try:
            wait_until(drawn, 30, "the dashboard's tables and charts")
        except AssertionError as e:
            raise AssertionError(f"{e}; the dashboard's last state: {snap}") from None
        # Charts: one per top trending item, count and forecast lines with points.
        for chart in snap["charts"]:
            self.assertGreaterEqual(chart["count"], 2, chart)
            self.assertGreaterEqual(chart["forecast"], 2, chart)
        self.assertEqual(snap["trending"][0], "surging-sku")
        self.assertEqual(snap["alive"], ["yes", "yes", "yes"])
        item = snap["popular"][0]
        # "You May Also Like": look up the most popular item, the similar table fills.
        box = d.find_element(By.ID, "similar-item")
        box.clear()
        box.send_keys(item)
        d.find_element(By.CSS_SELECTOR, "#similar-form button").click()
        wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#similar-table tbody tr")) > 0,
                   30, "similar items")
        # The model panel: the current model (GET /v1/model) and its evaluation table,
        # or the note saying there is none yet and how to get one. When the node
        # knows its models directory, an evaluation saved beside the trainer's
        # MODEL.json (`eddy eval --json`) is drawn as a table.
        model_json = lambda: json.load(urllib.request.urlopen(f"{self.node}/v1/model", timeout=30))
        model = model_json()
        self.assertIsNotNone(model["training"], model)  # n1 trained the model
        feed = os.path.join(self.c.dir, "eval-feed.msgpack")
        run([EDDY, "generate", "--seed", "3", "--hours", "2", "--items", "100", "-o", feed],
            env=self.c.env)
        doc = json.loads(run([EDDY, "eval", feed, "--factors", "8", "--iterations", "2",
                              "--json"], env=self.c.env).stdout)
        name = model["model"].split("/")[1]
        with open(os.path.join(self.c.dir, "data", model["trained_by"], "models", name,
                               "EVAL.json"), "w") as f:
            json.dump(doc, f)
        model = model_json()
        self.assertEqual(model["evaluation"], doc)
        self.assertIsNotNone(model["model"], model)
        wait_until(lambda: model["model"] in d.find_element(By.ID, "model-table").text, 30,
                   "the model panel")
        panel = d.find_element(By.ID, "model-table").text
        self.assertIn(f"version {model['version']}", panel)
        if model["evaluation"] is None:
            self.assertEqual(d.find_element(By.ID, "model-eval-note").text, model["hint"])
            self.assertTrue(model["hint"])
            self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#model-eval tbody tr"), [])
        else:  # one row per metric, ALS next to popularity
            metrics = [k for k, v in model["evaluation"]["als"].items() if isinstance(v, (int, float))]
            wait_until(lambda: len(d.find_elements(By.CSS_SELECTOR, "#model-eval tbody tr"))
                       == len(metrics), 30, "the evaluation table")
            rows = [r.text.split() for r in d.find_elements(By.CSS_SELECTOR, "#model-eval tbody tr")]
            self.assertEqual([r[0] for r in rows], metrics)
            self.assertIn("recall", metrics)
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "dashboard.png")
        self.assertTrue(d.save_screenshot(shot), shot)
        self.assertGreater(os.path.getsize(shot), 10000)
        print(f"\nscreenshot: {shot}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
