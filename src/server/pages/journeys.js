// /journeys and `nextbest journeys report`: KPI tiles, the funnel, the Sankey after an anchor,
// the transition graph as a matrix, cohort retention as a heat-map, lifecycle and customer
// lifetime value — all from one dashboard answer (GET /v1/analytics/dashboard, or the JSON
// embedded in a report file).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const int = (x) => x === null ? "–" : Math.round(x).toLocaleString("en-US");
const pct = (x) => x === null ? "–" : (x * 100).toFixed(1) + "%";
const money = (x) => x === null ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const hours = (s) => s === null ? "–" : s < 3600 ? (s / 60).toFixed(1) + " min" : s < 172800 ? (s / 3600).toFixed(1) + " h" : (s / 86400).toFixed(1) + " d";

const TILES = [
  ["customers", "Customers", int], ["active_customers", "Active customers", int],
  ["new_customers", "New customers", int], ["purchasers", "Purchasers", int],
  ["conversion_rate", "Conversion rate", pct], ["revenue", "Revenue", money],
  ["average_order_value", "Average order value", money], ["retention_rate", "Retention", pct],
  ["churn_rate", "Churn", pct], ["cancelled_customers", "Cancelled", int],
];

function tiles(k, clv) {
  const box = el("div", { class: "tiles", id: "kpis" });
  for (const [key, label, format] of TILES) {
    box.append(el("div", { class: "tile", "data-kpi": key, "data-value": k[key] === null ? "" : String(k[key]) },
      el("div", { class: "label" }, label), el("div", { class: "value" }, format(k[key]))));
  }
  const ts = k.text_sentiment;
  if (ts) {
    box.append(el("div", { class: "tile", "data-kpi": "mean_sentiment", "data-value": ts.mean_sentiment === null ? "" : String(ts.mean_sentiment), title: int(ts.texts) + " texts scored by " + ts.model },
      el("div", { class: "label" }, "Mean sentiment of texts"), el("div", { class: "value" }, ts.mean_sentiment === null ? "–" : ts.mean_sentiment.toFixed(2))));
  }
  if (clv) {
    box.append(el("div", { class: "tile", "data-kpi": "mean_clv", "data-value": String(clv.mean_clv) },
      el("div", { class: "label" }, "Mean CLV (" + clv.horizon.months + " months)"), el("div", { class: "value" }, money(clv.mean_clv))));
  }
  return box;
}

function funnelChart(f) {
  const group = f.groups[0];
  const top = Math.max(1, group.steps[0].customers);
  const width = 1000, bar = 46, gap = 18, left = 190;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${group.steps.length * (bar + gap)}`, class: "funnel", id: "funnel-chart" });
  group.steps.forEach((s, i) => {
    const y = i * (bar + gap), w = (width - left - 160) * s.customers / top;
    chart.append(
      svg("text", { x: left - 10, y: y + bar / 2 + 5, "text-anchor": "end" }, s.step),
      svg("rect", { x: left, y, width: Math.max(1, w), height: bar, rx: 3, class: "step" }),
      svg("text", { x: left + w + 8, y: y + bar / 2 + 5 }, int(s.customers) + " · " + pct(s.conversion_from_start)));
  });
  const rows = [];
  for (const g of f.groups) {
    for (const s of g.steps) {
      rows.push(el("tr", { "data-group": g.group, "data-step": s.step },
        el("td", {}, g.group), el("td", {}, s.step), el("td", { class: "num customers" }, int(s.customers)),
        el("td", { class: "num" }, pct(s.conversion_from_previous)), el("td", { class: "num" }, pct(s.conversion_from_start)),
        el("td", { class: "num" }, int(s.drop_off)), el("td", { class: "num" }, hours(s.median_seconds)), el("td", { class: "num" }, hours(s.mean_seconds))));
    }
  }
  const spec = f.spec;
  return el("section", { id: "funnel" },
    el("h2", {}, "Funnel ", el("span", { class: "muted" }, "— steps in " + spec.order + " mode, within " + spec.window_days + " days of the first step")),
    chart,
    el("table", {}, el("thead", {}, el("tr", {}, ...["group", "step", "customers", "from previous", "from start", "drop-off", "median time", "mean time"]
      .map((h, i) => el("th", { class: i > 1 ? "num" : "" }, h)))), el("tbody", {}, ...rows)));
}

// The Sankey: one column per step from the anchor, nodes sized by sessions, links as bands.
function sankey(p) {
  if (!p.spec.anchor || p.sankey.length === 0) return el("p", { class: "muted" }, "No session reaches the anchor.");
  const steps = p.spec.steps, width = 1000, height = 420, nodeWidth = 14, pad = 8;
  const before = p.spec.direction === "before";
  const columns = Array.from({ length: steps + 1 }, () => new Map());
  const anchorName = p.sankey.find((l) => l.step === 1).from;
  columns[0].set(anchorName, p.anchor_sessions);
  for (const l of p.sankey) columns[l.step].set(l.to, (columns[l.step].get(l.to) || 0) + l.count);
  const scale = (height - pad * 8) / p.anchor_sessions;
  const place = columns.map((col, c) => {
    const x = (before ? steps - c : c) * (width - nodeWidth - 120) / steps + 4;
    let y = 0;
    const nodes = new Map();
    for (const [name, count] of [...col.entries()].sort((a, b) => b[1] - a[1])) {
      nodes.set(name, { x, y, h: Math.max(1, count * scale), count, out: 0, in: 0 });
      y += Math.max(1, count * scale) + pad;
    }
    return nodes;
  });
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "sankey", id: "sankey-chart" });
  for (const l of p.sankey) {
    const a = place[l.step - 1].get(l.from), b = place[l.step].get(l.to);
    if (!a || !b) continue;
    const h = l.count * scale;
    const x0 = before ? a.x : a.x + nodeWidth, x1 = before ? b.x + nodeWidth : b.x;
    const y0 = a.y + a.out + h / 2, y1 = b.y + b.in + h / 2, mid = (x0 + x1) / 2;
    a.out += h; b.in += h;
    chart.append(svg("path", { d: `M${x0},${y0} C${mid},${y0} ${mid},${y1} ${x1},${y1}`, class: "link", "stroke-width": Math.max(1, h) },
      svg("title", {}, `${l.from} → ${l.to}: ${l.count}`)));
  }
  place.forEach((nodes) => {
    for (const [name, n] of nodes) {
      chart.append(svg("rect", { x: n.x, y: n.y, width: nodeWidth, height: n.h, class: "node" }, svg("title", {}, name + ": " + n.count)));
      if (n.h > 9) chart.append(svg("text", { x: n.x + nodeWidth + 4, y: n.y + Math.min(n.h / 2, 14) + 4 }, name + " " + int(n.count)));
    }
  });
  return chart;
}

// The transition graph as a matrix: row = from, column = to, shade = probability.
function transitions(p) {
  const names = ["(start)", ...p.nodes.slice(0, 12).map((n) => n[0])];
  const targets = [...names.slice(1), "(end)"];
  const edge = new Map(p.edges.map((e) => [e.from + "\u0000" + e.to, e]));
  const rows = names.map((from) => el("tr", {}, el("th", {}, from), ...targets.map((to) => {
    const e = edge.get(from + "\u0000" + to);
    const shade = e ? Math.round(255 - 180 * e.probability) : 255;
    return el("td", { class: "num cell", style: `background: rgb(${shade},${shade + 8 > 255 ? 255 : shade + 8},255)`,
      title: e ? `${from} → ${to}: ${e.count} (${pct(e.probability)})` : "" }, e ? pct(e.probability) : "");
  })));
  return el("table", { class: "matrix", id: "transitions" },
    el("thead", {}, el("tr", {}, el("th", {}, "from \\ to"), ...targets.map((t) => el("th", { class: "num" }, t)))), el("tbody", {}, ...rows));
}

function topPaths(p) {
  return el("table", { id: "top-paths" },
    el("thead", {}, el("tr", {}, el("th", {}, "path"), el("th", { class: "num" }, "sessions"), el("th", { class: "num" }, "share"))),
    el("tbody", {}, ...p.top_paths.map((t) => el("tr", {}, el("td", {}, t.path), el("td", { class: "num" }, int(t.sessions)), el("td", { class: "num" }, pct(t.share))))));
}

function cohortHeatmap(c) {
  const ages = Math.max(0, ...c.cohorts.map((r) => r.rates.length));
  const rows = c.cohorts.map((r) => el("tr", { "data-cohort": r.cohort }, el("th", {}, r.cohort), el("td", { class: "num" }, int(r.customers)),
    ...Array.from({ length: ages }, (_, a) => {
      if (a >= r.rates.length) return el("td", {});
      const shade = Math.round(255 - 150 * r.rates[a]);
      return el("td", { class: "num cell", style: `background: rgb(${shade},${Math.min(255, shade + 40)},${Math.min(255, shade + 15)})`, title: int(r.retained[a]) + " customers" }, pct(r.rates[a]));
    })));
  return el("table", { class: "matrix", id: "cohorts" },
    el("thead", {}, el("tr", {}, el("th", {}, "cohort"), el("th", { class: "num" }, "customers"), ...Array.from({ length: ages }, (_, a) => el("th", { class: "num" }, String(a))))),
    el("tbody", {}, ...rows));
}

function lifecycleChart(c) {
  const box = el("div", { id: "lifecycle" });
  if (typeof uPlot === "undefined" || c.lifecycle.length === 0) return box;
  const xs = c.lifecycle.map((_, i) => i);
  const colours = { new: "#2f5bd3", returning: "#1a7f37", resurrecting: "#b7791f", dormant: "#c0362c" };
  const keys = Object.keys(colours);
  const options = {
    width: Math.min(1100, document.body.clientWidth - 64), height: 260, scales: { x: { time: false } },
    series: [{ label: "period", value: (u, v) => v === null ? "–" : c.lifecycle[v].period }, ...keys.map((k) => ({ label: k, stroke: colours[k], width: 2 }))],
    axes: [{ values: (u, vals) => vals.map((v) => Number.isInteger(v) && c.lifecycle[v] ? c.lifecycle[v].period : "") }, { label: "customers" }],
  };
  setTimeout(() => new uPlot(options, [xs, ...keys.map((k) => c.lifecycle.map((l) => l[k]))], box), 0);
  return box;
}

function clvSection(clv) {
  if (!clv) return el("p", { class: "muted" }, "Too few repeat buyers to fit lifetime value.");
  const g = clv.gamma_gamma, b = clv.bgnbd;
  return el("div", {},
    el("p", { class: "muted" }, `BG/NBD r ${b.r.toFixed(3)}, α ${b.alpha.toFixed(3)}, a ${b.a.toFixed(3)}, b ${b.b.toFixed(3)}; Gamma-Gamma p ${g.p.toFixed(2)}, q ${g.q.toFixed(2)}, v ${g.v.toFixed(2)}; ` +
      `${clv.horizon.months} months at ${(clv.horizon.monthly_discount_rate * 100).toFixed(1)}% a month. Total ${money(clv.total_clv)} over ${int(clv.customers)} customers.`),
    el("table", { id: "clv" }, el("thead", {}, el("tr", {}, ...["customer", "repeat purchases", "P(alive)", "expected spend", "CLV"].map((h, i) => el("th", { class: i ? "num" : "" }, h)))),
      el("tbody", {}, ...clv.values.slice(0, 10).map((v) => el("tr", {}, el("td", {}, v.customer_id), el("td", { class: "num" }, int(v.x)),
        el("td", { class: "num" }, pct(v.p_alive)), el("td", { class: "num" }, money(v.expected_spend)), el("td", { class: "num" }, money(v.clv)))))));
}

function painTable(pp) {
  const outcome = pp.spec.outcome === "cancel" ? "cancel" : "go quiet";
  return el("div", {},
    el("p", { class: "muted" }, `Share of customers who ${outcome} within ${pp.spec.window_days} days after an event, against those without it (at least ${pp.spec.min_support} customers).`),
    el("table", { id: "pain-points" }, el("thead", {}, el("tr", {}, ...["after", "customers", outcome, "rate", "others' rate", "lift", "95% interval"].map((h, i) => el("th", { class: i ? "num" : "" }, h)))),
      el("tbody", {}, ...pp.points.map((p) => el("tr", { "data-event": p.event_type, class: p.lift_interval && p.lift_interval[0] > 1 ? "worse" : "" },
        el("td", {}, p.event_type), el("td", { class: "num" }, int(p.exposed)), el("td", { class: "num" }, int(p.exposed_outcomes)),
        el("td", { class: "num" }, pct(p.rate)), el("td", { class: "num" }, pct(p.base_rate)),
        el("td", { class: "num lift" }, p.lift === null ? "–" : p.lift.toFixed(2) + "×"),
        el("td", { class: "num" }, p.lift_interval ? p.lift_interval[0].toFixed(2) + "–" + p.lift_interval[1].toFixed(2) : "–"))))));
}

function attributionTable(a) {
  const model = a.uplift_model;
  const heads = ["action", "first touch", "revenue", "last touch", "revenue", ...(model ? ["contacts", "incremental (model)"] : [])];
  const extra = (c) => model ? [el("td", { class: "num" }, c.contacts === null || c.contacts === undefined ? "–" : int(c.contacts)),
    el("td", { class: "num incremental" }, c.incremental_conversions === null || c.incremental_conversions === undefined ? "–" : c.incremental_conversions.toFixed(1))] : [];
  return el("div", {},
    el("p", { class: "muted" }, `${int(a.orders)} orders credited to the earliest (first touch) or latest (last touch) of our contacts in the ${a.window_days} days before them.` +
      (model ? ` Incremental: the conversions ${model} estimates each action's contacts caused (P(convert | action) − P(convert | no action), summed).` : "")),
    el("table", { id: "attribution" }, el("thead", {}, el("tr", {}, ...heads.map((h, i) => el("th", { class: i ? "num" : "" }, h)))),
      el("tbody", {}, ...a.credits.map((c) => el("tr", { "data-action": c.action_id }, el("td", {}, c.action_id),
        el("td", { class: "num" }, int(c.first_touch_conversions)), el("td", { class: "num" }, money(c.first_touch_revenue)),
        el("td", { class: "num" }, int(c.last_touch_conversions)), el("td", { class: "num" }, money(c.last_touch_revenue)), ...extra(c))))));
}

// The most frequent negative aspects of customer text, period by period.
function aspectTable(pp) {
  const na = pp.negative_aspects;
  if (!na) return el("p", { class: "muted" }, "Load a sentiment model to see what customers complain about.");
  return el("table", { class: "matrix", id: "negative-aspects" },
    el("thead", {}, el("tr", {}, el("th", {}, "aspect"), el("th", { class: "num" }, "negative mentions"), ...na.periods.map((p) => el("th", { class: "num" }, p)))),
    el("tbody", {}, ...na.aspects.map((a) => el("tr", { "data-aspect": a.aspect }, el("th", {}, a.aspect), el("td", { class: "num" }, int(a.negative_mentions)),
      ...a.per_period.map((n) => el("td", { class: "num" }, n ? int(n) : ""))))));
}

// Two segments side by side: each transition's share in both, largest difference first.
function comparedPaths(p) {
  const c = p.compared;
  if (!c) return el("div", {});
  return el("div", { id: "paths-compared" },
    el("h2", {}, "Two segments ", el("span", { class: "muted" }, `— this segment (${int(p.sessions)} sessions) against ${c.segment} (${int(c.paths.sessions)} sessions)`)),
    el("table", {}, el("thead", {}, el("tr", {}, ...["from", "to", "this segment", c.segment, "difference"].map((h, i) => el("th", { class: i > 1 ? "num" : "" }, h)))),
      el("tbody", {}, ...c.edges.slice(0, 20).map((e) => el("tr", { "data-edge": e.from + " → " + e.to }, el("td", {}, e.from), el("td", {}, e.to),
        el("td", { class: "num" }, pct(e.probability)), el("td", { class: "num" }, pct(e.compared_probability)),
        el("td", { class: "num" }, (e.difference >= 0 ? "+" : "") + (e.difference * 100).toFixed(1) + " pt"))))));
}

async function journeyData() {
  const embedded = document.getElementById("journey-data");
  if (embedded) return JSON.parse(embedded.textContent);
  return getJson("/v1/analytics/dashboard" + location.search);
}

(async () => {
  const d = await journeyData();
  if (!d) return;
  const content = document.getElementById("content");
  const p = d.paths;
  content.append(
    el("h1", {}, "Customer journeys"),
    el("p", { class: "muted", id: "period" }, d.kpis.from.slice(0, 10) + " to " + d.kpis.to.slice(0, 10) +
      " · retention against the " + Math.round((Date.parse(d.kpis.to) - Date.parse(d.kpis.from)) / 864e5) + " days before"),
    tiles(d.kpis, d.clv),
    funnelChart(d.funnel),
    el("section", { id: "paths" },
      el("h2", {}, "After " + (p.spec.anchor ? p.spec.anchor.event_type : "–") + " ", el("span", { class: "muted" },
        `— ${int(p.anchor_sessions)} of ${int(p.sessions)} sessions (${p.spec.gap_minutes} min inactivity ends a session), ${p.spec.steps} steps ${p.spec.direction}`)),
      sankey(p),
      el("h2", {}, "Transition graph ", el("span", { class: "muted" }, "— share of each row's next steps")), transitions(p),
      el("h2", {}, "Top paths"), topPaths(p), comparedPaths(p)),
    el("section", {}, el("h2", {}, "Retention by cohort ", el("span", { class: "muted" }, "— share of each cohort active k periods later")), cohortHeatmap(d.cohorts),
      el("h2", {}, "Lifecycle"), lifecycleChart(d.cohorts)),
    el("section", {}, el("h2", {}, "Pain points"), painTable(d.pain_points),
      el("h2", {}, "What customers complain about ", el("span", { class: "muted" }, "— negative sentences per aspect")), aspectTable(d.pain_points)),
    el("section", {}, el("h2", {}, "Which contacts get the credit"), attributionTable(d.attribution)),
    el("section", {}, el("h2", {}, "Customer lifetime value"), clvSection(d.clv)));
  document.body.setAttribute("data-loaded", "true");
})().catch(fail);
