// The c10m dashboard: polls /api/state and /api/series (or reads window.C10M_REPORT in a
// report), then draws the headline, the nearest limit, the charts and the panels.
(function () {
  "use strict";
  const REPORT = window.C10M_REPORT;
  const params = new URLSearchParams(location.search);
  const every = Math.max(100, Number(params.get("every")) || 1000);
  const $ = (id) => document.getElementById(id);
  let state = null, generation = -1, rows = [], charts = [], chartKey = "", lastOk = 0, stopped = false;

  const int = (v) => (v == null || !isFinite(v)) ? "-" : Math.round(v).toLocaleString("en-US");
  function bytes(v) {
    if (v == null || !isFinite(v)) return "-";
    const a = Math.abs(v), u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let k = 0, x = a;
    while (x >= 1024 && k < u.length - 1) { x /= 1024; k++; }
    return (v < 0 ? "-" : "") + (k === 0 ? x.toFixed(0) : x.toFixed(1)) + " " + u[k];
  }
  function fmt(unit, v) {
    if (v == null || !isFinite(v)) return "-";
    switch (unit) {
      case "bytes": return bytes(v);
      case "bytes_per_conn": return v.toFixed(1) + " B";
      case "per_s": return int(v) + "/s";
      case "us": return int(v) + " \u00b5s";
      case "share": return (100 * v).toFixed(1) + "%";
      default: return int(v);
    }
  }
  // Axis labels: short, so they fit beside the chart.
  function tick(unit, v) {
    if (unit === "bytes") return bytes(v);
    if (unit === "share") return (100 * v).toFixed(0) + "%";
    const a = Math.abs(v);
    const n = a >= 1e6 ? (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M" : a >= 1e4 ? (v / 1e3).toFixed(0) + "k" : int(v);
    return n + ({ bytes_per_conn: " B", per_s: "/s", us: " \u00b5s" }[unit] || "");
  }
  // Byte ticks in one unit, with as many decimals as tell them apart.
  function bytesAxis(vals) {
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    const max = Math.max(...vals.map((v) => Math.abs(v || 0)));
    let k = 0;
    while (max >= 1024 ** (k + 1) && k < u.length - 1) k++;
    const step = vals.length > 1 ? Math.abs(vals[1] - vals[0]) / 1024 ** k : 1;
    const d = k === 0 ? 0 : Math.min(3, Math.max(0, Math.ceil(-Math.log10(step || 1))));
    return vals.map((v) => (v / 1024 ** k).toFixed(d) + " " + u[k]);
  }
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

  function setStatus(cls, text) { const s = $("status"); s.className = cls; s.textContent = text; }

  function merge(series) {
    if (!series || series.stale) return false;
    if (series.generation !== generation || series.from === 0) rows = [];
    generation = series.generation;
    rows = rows.slice(0, series.from).concat(series.rows);
    return true;
  }

  function drawCharts() {
    if (!state) return;
    const defs = state.series;
    const groups = [];
    defs.forEach((d, i) => {
      let g = groups.find((x) => x.title === d.chart);
      if (!g) { g = { title: d.chart, unit: d.unit, idx: [] }; groups.push(g); }
      g.idx.push(i + 1);
    });
    const key = groups.map((g) => g.title + g.idx.join()).join("|");
    const width = Math.max(320, ($("charts").parentElement.clientWidth - 80) / (window.innerWidth > 1100 ? 2 : 1) - 30);
    if (key !== chartKey || charts.length === 0 || Math.abs(charts[0].plot.width - width) > 40) {
      charts.forEach((c) => c.plot.destroy());
      $("charts").innerHTML = "";
      charts = groups.map((g, n) => {
        const sec = document.createElement("section");
        sec.innerHTML = "<h2>" + esc(g.title) + "</h2><div class=chart></div>";
        $("charts").appendChild(sec);
        const colors = ["#1565c0", "#2e7d32", "#ef6c00", "#c62828", "#6a1b9a", "#00838f"];
        const opts = {
          width: width, height: 210,
          scales: { x: { time: false } },
          axes: [{ label: "seconds" }, { size: g.unit === "bytes" ? 92 : 72, values: (u, vals) => g.unit === "bytes" ? bytesAxis(vals) : vals.map((v) => tick(g.unit, v)) }],
          series: [{ label: "t", value: (u, v) => v == null ? "-" : v.toFixed(1) + " s" }].concat(g.idx.map((i, k) => ({
            label: defs[i - 1].label, stroke: colors[k % colors.length], width: 2,
            value: (u, v) => fmt(defs[i - 1].unit, v),
          }))),
        };
        return { idx: g.idx, title: g.title, plot: new uPlot(opts, [[], ...g.idx.map(() => [])], sec.querySelector(".chart")) };
      });
      chartKey = key;
    }
    const t = rows.map((r) => r[0]);
    charts.forEach((c) => {
      const cols = c.idx.map((i) => rows.map((r) => r[i]));
      c.plot.setData([t, ...cols]);
      const empty = cols.every((col) => col.every((v) => v == null));
      const why = c.title.startsWith("Round trips") ? "no pings: round trips need --ping-interval" : "no figures yet";
      c.plot.root.parentElement.dataset.empty = empty ? why : "";
    });
  }

  function drawHeadline(p) {
    $("headline").innerHTML = (p.headline || []).map((f) =>
      '<div class="fig" data-key="' + esc(f.key) + '"><span class="v">' + int(f.value) + '</span><span class="l">' + esc(f.label) + "</span></div>").join("");
  }

  function barClass(s) { return s >= 0.95 ? "bar hot" : s >= 0.75 ? "bar warm" : "bar"; }
  function bar(s) {
    if (s == null) return '<span class="muted">no live figure</span>';
    return '<div class="' + barClass(s) + '"><i style="width:' + Math.min(100, 100 * s).toFixed(1) + '%"></i></div>';
  }

  function drawLimits(p) {
    const gauges = p.limits || [];
    const near = gauges.find((g) => g.key === p.nearest);
    const box = $("nearest");
    box.dataset.key = near ? near.key : "";
    box.classList.toggle("binding", !!near && near.share >= 0.95);
    $("nearest-body").innerHTML = near
      ? '<div class="big" id="nearest-name">' + esc(near.name) + " &mdash; " + fmt("share", near.share) + " used</div>" +
        "<div>" + esc(near.reading) + "</div>" +
        '<div>knob: <span class="knob">' + esc(near.knob) + "</span></div>" +
        '<div class="muted">when it binds: ' + esc(near.binds_with) + "</div>"
      : '<span class="muted">no limit read yet</span>';
    $("limits").querySelector("tbody").innerHTML = gauges.map((g) =>
      '<tr data-key="' + esc(g.key) + '"' + (g.key === p.nearest ? ' class="nearest"' : "") + ">" +
      "<td>" + esc(g.name) + '<div class="muted">' + esc(g.value) + "</div></td>" +
      "<td>" + esc(g.reading) + "</td><td>" + bar(g.share) + (g.share == null ? "" : '<div class="muted">' + fmt("share", g.share) + "</div>") + "</td>" +
      '<td class="knob">' + esc(g.knob) + "</td></tr>").join("");
  }

  function drawMemory(p) {
    const m = p.memory || {};
    let h = "<table>" +
      '<tr><td>user space</td><td class="n" id="user-bpc">' + fmt("bytes_per_conn", m.user_bytes_per_conn) + '</td><td class="muted">' + esc(m.user_basis || "") + "</td></tr>" +
      '<tr><td>kernel (slab)</td><td class="n" id="kernel-bpc">' + fmt("bytes_per_conn", m.kernel_bytes_per_conn) + '</td><td class="muted">' + esc(m.kernel_basis || "") + "</td></tr></table>";
    if (m.by_cache && m.by_cache.length) {
      h += "<table><tr><th>slab cache</th><th>bytes per connection</th></tr>" +
        m.by_cache.map((c) => "<tr><td>" + esc(c.cache) + '</td><td class="n">' + c.bytes_per_conn.toFixed(1) + "</td></tr>").join("") + "</table>";
    } else if (!m.slabinfo_readable) {
      h += '<div class="muted">/proc/slabinfo is not readable here (it is for root): no split by slab cache.</div>';
    }
    $("memory-body").innerHTML = h;
  }

  function drawFailures(p) {
    const f = p.failures || [];
    $("failures-body").innerHTML = f.length
      ? "<table><tr><th>errno</th><th>count</th><th>cause and knob</th></tr>" +
        f.map((r) => '<tr data-errno="' + esc(r.errno) + '"><td>' + esc(r.errno) + '</td><td class="n">' + int(r.count) + "</td><td>" + esc(r.meaning) + "</td></tr>").join("") + "</table>"
      : '<span class="muted">none</span>';
  }

  function drawSpread(p) {
    const s = p.spread;
    $("spread").classList.toggle("hidden", !s);
    if (!s) return;
    $("spread-title").textContent = "Spread over " + s.count + " " + s.of;
    const max = Math.max(1, ...s.each);
    $("spread").querySelector(".bars").innerHTML = s.each.map((v, i) =>
      '<i title="' + s.of.replace(/s$/, "") + " " + i + ": " + int(v) + '" style="height:' + (100 * v / max).toFixed(1) + '%"></i>').join("");
    $("spread-text").textContent = "least " + int(s.min) + ", most " + int(s.max) + " connections per " + s.of.replace(/s$/, "");
  }

  function flat(obj, prefix, out) {
    Object.keys(obj).forEach((k) => {
      const v = obj[k], name = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) flat(v, name, out);
      else out.push([name, v]);
    });
    return out;
  }

  function drawRecords() {
    const recs = state.records || [];
    const first = recs.find((r) => r.type === "start" || r.type === "plan");
    if (first) {
      const where = first.listen ? "listening on " + first.listen : first.connections != null ? int(first.connections) + " connections, " + first.processes + " process(es), engine " + first.engine : "";
      $("what").textContent = where;
    }
    const sum = recs.filter((r) => r.type === "summary").pop();
    $("summary").classList.toggle("hidden", !sum);
    $("summary").dataset.ended = sum ? "1" : "";
    if (sum) {
      $("summary-table").innerHTML = flat(sum, "", []).filter((kv) => kv[0] !== "type").map((kv) =>
        '<tr data-field="' + esc(kv[0]) + '"><td>' + esc(kv[0]) + '</td><td class="n">' +
        esc(typeof kv[1] === "number" ? (Number.isInteger(kv[1]) ? int(kv[1]) : kv[1]) : JSON.stringify(kv[1])) + "</td></tr>").join("");
    }
    $("records-body").textContent = recs.map((r) => JSON.stringify(r)).join("\n");
  }

  function draw() {
    if (!state) return;
    $("prog").textContent = state.prog;
    document.title = state.prog + " dashboard";
    const p = state.panels || {};
    drawHeadline(p); drawLimits(p); drawMemory(p); drawFailures(p); drawSpread(p); drawRecords(); drawCharts();
    if (REPORT) setStatus("ended", "report: the run ended after " + state.t.toFixed(1) + " s");
    else if (state.ended) setStatus("ended", "the run has ended after " + state.t.toFixed(1) + " s; this page stays until the process exits");
    else setStatus("live", "live, " + state.t.toFixed(1) + " s");
  }

  async function poll() {
    try {
      const s = await (await fetch("api/state", { cache: "no-store" })).json();
      const from = s.generation === generation ? Math.min(rows.length, s.rows) : 0;
      const r = await (await fetch("api/series?gen=" + generation + "&from=" + from, { cache: "no-store" })).json();
      if (!merge(r)) generation = -1;
      state = s; lastOk = Date.now();
      draw();
      if (s.ended) stopped = true;
    } catch (e) {
      if (state && state.ended) stopped = true;
      setStatus("gone", lastOk ? "the process has exited: this page keeps its last view" : "cannot reach the dashboard");
    }
    if (!stopped) setTimeout(poll, every);
  }

  window.addEventListener("resize", () => { chartKey = ""; drawCharts(); });
  if (REPORT) { state = REPORT.state; merge(REPORT.series); draw(); } else poll();
})();
