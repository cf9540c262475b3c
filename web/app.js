// The eddy dashboard: plain JavaScript, no build step, nothing from the internet.
// Every number comes from this node's HTTP API (/openapi.yaml); it refreshes every
// few seconds (?refresh=SECONDS, default 5; ?k=N items per list, default 10).
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var refreshMs = Math.max(1, Number(params.get("refresh") || 5)) * 1000;
  var k = Math.min(100, Math.max(1, Number(params.get("k") || 10)));
  var charts = Math.min(12, Number(params.get("charts") || 6));
  var SVG = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var rounds = 0;

  function getJSON(path) {
    return fetch(path, { cache: "no-store" }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j && j.error ? j.error : "HTTP " + r.status);
        return j;
      });
    });
  }

  function fmt(x, digits) {
    if (x === null || x === undefined) return "–";
    if (typeof x !== "number") return String(x);
    return x.toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function fillRanking(table, items, measure) {
    var body = table.querySelector("tbody");
    body.textContent = "";
    if (!items.length) {
      var tr = document.createElement("tr");
      cell(tr, "no items yet", "muted").colSpan = 3;
      body.appendChild(tr);
      return;
    }
    items.forEach(function (e) {
      var tr = document.createElement("tr");
      tr.dataset.item = e.item;
      cell(tr, e.rank);
      var td = cell(tr, e.item);
      td.style.cursor = "pointer";
      td.title = "items similar to this one";
      td.onclick = function () { $("similar-item").value = e.item; lookupSimilar(); };
      cell(tr, fmt(e[measure]), "num");
      body.appendChild(tr);
    });
  }

  function el(name, attrs) {
    var n = document.createElementNS(SVG, name);
    for (var a in attrs) n.setAttribute(a, attrs[a]);
    return n;
  }

  // One item's closed buckets: count (solid) and forecast (dashed), shared y axis.
  function drawSeries(box, series) {
    var pts = series.points.filter(function (p) { return p.closed; });
    var w = 300, h = 120, pad = 4;
    var svg = el("svg", { viewBox: "0 0 " + w + " " + h, preserveAspectRatio: "none", role: "img" });
    var max = 1;
    pts.forEach(function (p) { max = Math.max(max, p.count, p.forecast + p.spread); });
    var x = function (i) { return pad + (pts.length < 2 ? 0 : i * (w - 2 * pad) / (pts.length - 1)); };
    var y = function (v) { return h - pad - v * (h - 2 * pad) / max; };
    var line = function (key) {
      return pts.map(function (p, i) { return x(i).toFixed(1) + "," + y(p[key]).toFixed(1); }).join(" ");
    };
    svg.appendChild(el("line", { x1: 0, y1: h - pad, x2: w, y2: h - pad, stroke: "#e3e6ec" }));
    if (pts.length) {
      var band = pts.map(function (p, i) { return x(i).toFixed(1) + "," + y(p.forecast + p.spread).toFixed(1); })
        .concat(pts.slice().reverse().map(function (p, j) {
          return x(pts.length - 1 - j).toFixed(1) + "," + y(Math.max(0, p.forecast - p.spread)).toFixed(1);
        })).join(" ");
      svg.appendChild(el("polygon", { points: band, fill: "#e08a00", "fill-opacity": 0.12, stroke: "none" }));
      svg.appendChild(el("polyline", { points: line("forecast"), fill: "none", stroke: "#e08a00",
                                       "stroke-width": 1.5, "stroke-dasharray": "4 3", class: "forecast" }));
      svg.appendChild(el("polyline", { points: line("count"), fill: "none", stroke: "#2f6fec",
                                       "stroke-width": 2, class: "count" }));
    }
    box.appendChild(svg);
    var last = pts[pts.length - 1];
    var note = document.createElement("div");
    note.className = "muted";
    note.textContent = last ? "last bucket: " + fmt(last.count) + " vs forecast " + fmt(last.forecast) +
      " (score " + fmt(last.score) + "), max " + fmt(max) : "no closed buckets";
    box.appendChild(note);
  }

  function refreshTrending() {
    return getJSON("/v1/trending?k=" + k).then(function (t) {
      fillRanking($("trending-table"), t.items, "score");
      var top = t.items.slice(0, charts);
      return Promise.all(top.map(function (e) {
        return getJSON("/v1/items/" + encodeURIComponent(e.item) + "/series").catch(function () { return null; });
      })).then(function (all) {
        var grid = $("trending-charts");
        grid.textContent = "";
        all.forEach(function (s, i) {
          if (!s) return;
          var box = document.createElement("div");
          box.className = "chart";
          box.dataset.item = top[i].item;
          var title = document.createElement("div");
          title.className = "title";
          title.textContent = "#" + top[i].rank + " " + top[i].item;
          box.appendChild(title);
          drawSeries(box, s);
          grid.appendChild(box);
        });
      });
    });
  }

  function refreshPopular() {
    return getJSON("/v1/popular?k=" + k).then(function (p) {
      fillRanking($("popular-table"), p.items, "count");
    });
  }

  function kv(table, rows) {
    var body = table.querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r[0]);
      cell(tr, r[1]);
      body.appendChild(tr);
    });
  }

  function refreshCluster() {
    return getJSON("/v1/cluster").then(function (c) {
      var alive = c.nodes.filter(function (n) { return n.alive; }).length;
      kv($("cluster-summary"), [
        ["events stored", fmt(c.total_events, 0)],
        ["ingest rate", c.ingest_rate_per_s === null ? "measuring…" : fmt(c.ingest_rate_per_s, 1) + " events/s"],
        ["nodes alive", alive + " of " + c.nodes.length + (c.complete ? "" : " (some did not answer)")],
        ["shards", String(c.shards.length)],
        ["asked", c.queried_by]
      ]);
      var body = $("cluster-table").querySelector("tbody");
      body.textContent = "";
      c.nodes.forEach(function (n) {
        var tr = document.createElement("tr");
        cell(tr, n.id);
        cell(tr, n.alive ? "yes" : "NO", n.alive ? "alive" : "dead");
        cell(tr, n.shards_owned, "num");
        cell(tr, fmt(n.events, 0), "num");
        body.appendChild(tr);
      });
      $("status").textContent = "cluster: " + alive + "/" + c.nodes.length + " nodes alive, " +
        fmt(c.total_events, 0) + " events";
    });
  }

  // The current model (GET /v1/model): name, version, recall@10 of its
  // similar-items table, the training summary, and its evaluation table (the
  // metrics of `eddy eval --json`, ALS against popularity) or why there is none.
  function refreshModel() {
    return getJSON("/v1/model").then(function (m) {
      var rows = [["model", m.model || "none yet"], ["version", m.version === null ? "–" : fmt(m.version, 0)],
                  ["trained by", m.trained_by || "–"],
                  ["recall@10 (LSH vs exact)", m.recall_at_10 === null ? "–" : fmt(m.recall_at_10, 3)]];
      var t = m.training;
      if (t) {
        rows.push(["users × items", fmt(t.users, 0) + " × " + fmt(t.items, 0)]);
        if (t.settings) rows.push(["factors, iterations", t.settings.factors + ", " + t.settings.iterations]);
        if (t.iterations && t.iterations.length)
          rows.push(["final loss (normalized)", fmt(t.iterations[t.iterations.length - 1].normalized_loss, 5)]);
      }
      kv($("model-table"), rows);
      var body = $("model-eval").querySelector("tbody");
      body.textContent = "";
      var ev = m.evaluation;
      $("model-eval-k").textContent = ev && ev.k ? "(@" + ev.k + ", each user's later interactions held out)" : "";
      $("model-eval-note").textContent = ev ? "" : (m.hint || "no evaluation");
      $("model-eval").style.display = ev ? "" : "none";
      if (!ev || !ev.als) return;
      Object.keys(ev.als).forEach(function (key) {
        if (typeof ev.als[key] !== "number") return;
        var tr = document.createElement("tr");
        cell(tr, key);
        cell(tr, fmt(ev.als[key], 4), "num");
        cell(tr, ev.popularity && typeof ev.popularity[key] === "number" ? fmt(ev.popularity[key], 4) : "–", "num");
        body.appendChild(tr);
      });
    });
  }

  function lookupSimilar(ev) {
    if (ev) ev.preventDefault();
    var item = $("similar-item").value.trim();
    var body = $("similar-table").querySelector("tbody");
    if (!item) return;
    $("similar-note").textContent = "asking…";
    getJSON("/v1/similar/" + encodeURIComponent(item) + "?k=" + k).then(function (s) {
      $("similar-note").textContent = "items similar to " + item + " (model version " + s.model_version + ")";
      body.textContent = "";
      s.similar.forEach(function (e, i) {
        var tr = document.createElement("tr");
        cell(tr, i + 1);
        cell(tr, e.item);
        cell(tr, fmt(e.score, 3), "num");
        body.appendChild(tr);
      });
    }).catch(function (e) {
      body.textContent = "";
      $("similar-note").innerHTML = "";
      var span = document.createElement("span");
      span.className = "error";
      span.textContent = e.message;
      $("similar-note").appendChild(span);
    });
  }
  $("similar-form").addEventListener("submit", lookupSimilar);

  function refresh() {
    var jobs = [refreshCluster(), refreshTrending(), refreshPopular(), refreshModel()].map(function (p) {
      return p.catch(function (e) { $("status").textContent = "error: " + e.message; });
    });
    Promise.all(jobs).then(function () {
      rounds += 1;
      document.body.dataset.refreshes = String(rounds);
      $("updated").textContent = "updated " + new Date().toLocaleTimeString();
      setTimeout(refresh, refreshMs);
    });
  }
  refresh();
})();
