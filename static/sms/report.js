/* The sendout's report: figures, a bar chart by hour (inline SVG built here: no
   library, no inline style) and the same figures as a table. Refreshed while the
   sendout runs (sendout.js tells it with the "sendout:updated" event). */
(function () {
  "use strict";
  const root = document.getElementById("report");
  if (!root) return;
  const gettext = window.gettext || ((s) => s);
  const interp = (s, o) => (window.interpolate ? window.interpolate(s, o, true) : s);
  const lang = document.documentElement.lang || undefined;
  const fmt = (n) => new Intl.NumberFormat(lang).format(n);
  const percent = (x) => new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 }).format(x);
  const SVG = "http://www.w3.org/2000/svg";
  const W = 600, H = 220, LEFT = 44, RIGHT = 8, TOP = 12, BOTTOM = 34;
  const REFRESH_MS = 5000;
  const FINAL = ["completed", "cancelled"];

  // The figures above the chart, in order; a figure the answer lacks is left out.
  const FIGURES = [
    { key: "delivery_rate", label: gettext("Delivery rate"), show: (r) => (r.delivery_rate === null ? "–" : percent(r.delivery_rate)),
      hint: (r) => interp(gettext("of %(n)s messages that left"), { n: fmt(r.left) }) },
    { key: "delivered", label: gettext("Delivered"), show: (r) => fmt(r.delivered) },
    { key: "opt_outs", label: gettext("Opt-outs after this sendout"), show: (r) => fmt(r.opt_outs) },
    { key: "click_through_rate", label: gettext("Click-through rate"), show: (r) => (r.click_through_rate === null ? "–" : percent(r.click_through_rate)),
      hint: (r) => interp(gettext("%(unique)s unique clicks, %(total)s in all"), { unique: fmt(r.clicks_unique), total: fmt(r.clicks_total) }) },
    { key: "replies", label: gettext("Replies"), show: (r) => fmt(r.replies) },
  ];

  function svg(name, attrs, text) {
    const el = document.createElementNS(SVG, name);
    Object.entries(attrs || {}).forEach(([k, v]) => el.setAttribute(k, String(v)));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function bucketLabel(iso, bucket) {
    const at = new Date(iso);
    return bucket === "day"
      ? new Intl.DateTimeFormat(lang, { day: "numeric", month: "numeric" }).format(at)
      : new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" }).format(at);
  }

  function bucketTitle(iso, bucket) {
    const at = new Date(iso);
    return bucket === "day"
      ? new Intl.DateTimeFormat(lang, { dateStyle: "medium" }).format(at)
      : new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" }).format(at);
  }

  function drawFigures(report) {
    const dl = document.getElementById("report-figures");
    dl.replaceChildren(...FIGURES.filter((f) => f.key in report).map((f) => {
      const div = document.createElement("div");
      div.dataset.figure = f.key;
      const dt = document.createElement("dt");
      dt.textContent = f.label;
      const dd = document.createElement("dd");
      dd.textContent = f.show(report);
      div.append(dt, dd);
      if (f.hint) {
        const hint = document.createElement("dd");
        hint.className = "hint";
        hint.textContent = f.hint(report);
        div.append(hint);
      }
      return div;
    }));
  }

  function drawChart(timeline) {
    const chart = document.getElementById("report-chart");
    const title = chart.querySelector("title");
    const desc = chart.querySelector("desc");
    title.textContent = timeline.bucket === "day" ? gettext("Messages by day") : gettext("Messages by hour");
    const series = timeline.series;
    const buckets = series.length ? series[0].points.map((p) => p.at) : [];
    const parts = [];
    if (!buckets.length) {
      desc.textContent = gettext("No messages have left yet.");
      parts.push(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, desc.textContent));
      chart.replaceChildren(title, desc, ...parts);
      return;
    }
    desc.textContent = series.map((s) => interp(gettext("%(label)s: %(n)s in all"),
      { label: s.label, n: fmt(s.points.reduce((sum, p) => sum + p.n, 0)) })).join("; ");
    const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.n)));
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const y = (n) => TOP + plotH - (plotH * n) / max;
    [0, max / 2, max].forEach((n) => {
      parts.push(svg("line", { x1: LEFT, x2: W - RIGHT, y1: y(n), y2: y(n), class: "chart-grid" }));
      parts.push(svg("text", { x: LEFT - 6, y: y(n) + 4, "text-anchor": "end", class: "chart-axis" }, fmt(Math.round(n))));
    });
    const slot = plotW / buckets.length;
    const barW = Math.max(1, (slot * 0.8) / series.length);
    series.forEach((s, i) => {
      s.points.forEach((p, j) => {
        if (!p.n) return;
        const bar = svg("rect", {
          x: LEFT + j * slot + slot * 0.1 + i * barW, y: y(p.n), width: barW, height: TOP + plotH - y(p.n),
          class: `chart-bar series-${s.key}`, "data-series": s.key,
        });
        bar.append(svg("title", {}, `${s.label}, ${bucketTitle(p.at, timeline.bucket)}: ${fmt(p.n)}`));
        parts.push(bar);
      });
    });
    const every = Math.ceil(buckets.length / 8);  // at most 8 labels under the bars
    buckets.forEach((at, j) => {
      if (j % every) return;
      parts.push(svg("text", { x: LEFT + j * slot + slot / 2, y: H - BOTTOM + 18, "text-anchor": "middle", class: "chart-axis" },
        bucketLabel(at, timeline.bucket)));
    });
    chart.replaceChildren(title, desc, ...parts);
  }

  function drawLegend(timeline) {
    document.getElementById("report-legend").replaceChildren(...timeline.series.map((s) => {
      const li = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = `swatch series-${s.key}`;
      li.append(swatch, s.label);
      return li;
    }));
  }

  function drawTable(timeline) {
    const table = document.getElementById("report-table");
    const head = document.createElement("thead");
    const headRow = head.insertRow();
    [timeline.bucket === "day" ? gettext("Day") : gettext("Hour"), ...timeline.series.map((s) => s.label)].forEach((text, i) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      if (i) th.className = "num";
      headRow.append(th);
    });
    const body = document.createElement("tbody");
    const buckets = timeline.series.length ? timeline.series[0].points.map((p) => p.at) : [];
    buckets.forEach((at, j) => {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = bucketTitle(at, timeline.bucket);
      row.append(th);
      timeline.series.forEach((s) => {
        const td = row.insertCell();
        td.className = "num";
        td.textContent = fmt(s.points[j].n);
      });
    });
    table.replaceChildren(head, body);
  }

  let last = 0;
  let pending = null;

  async function refresh() {
    last = Date.now();
    const response = await fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const report = await response.json();
    drawFigures(report);
    drawChart(report.timeline);
    drawLegend(report.timeline);
    drawTable(report.timeline);
    root.dataset.loaded = "true";
  }

  // While the sendout runs: at most one refresh every REFRESH_MS, and one at the end.
  document.addEventListener("sendout:updated", (event) => {
    const done = FINAL.includes(event.detail.status);
    clearTimeout(pending);
    const wait = done ? 0 : Math.max(0, REFRESH_MS - (Date.now() - last));
    pending = setTimeout(refresh, wait);
  });
  refresh();
})();
