// /experiments/{id}: the verdict, health warnings, arms, every metric's lift with its interval,
// and cumulative conversion per arm — all from GET /v1/experiments/{id}/results.
"use strict";

const LABELS = {
  conversion_rate: "Conversion rate", revenue_per_customer: "Revenue per customer",
  revenue_per_order: "Revenue per order", click_rate: "Click rate",
  unsubscribe_rate: "Unsubscribe rate", complaint_rate: "Complaint rate",
};
const RATES = new Set(["conversion_rate", "click_rate", "unsubscribe_rate", "complaint_rate"]);

function value(metric, x) {
  return RATES.has(metric) ? (x * 100).toFixed(2) + "%" : x.toFixed(2);
}
function signed(x) {
  return (x >= 0 ? "+" : "") + (x * 100).toFixed(1) + "%";
}
function interval(i) {
  return i ? "[" + signed(i[0]) + ", " + signed(i[1]) + "]" : "–";
}

// The lift's interval as a bar on a shared axis through 0.
function liftBar(comparison, judged, scale) {
  const bar = el("div", { class: "bar", title: interval(judged) });
  const x = (v) => (50 + 50 * Math.max(-1, Math.min(1, v / scale))) + "%";
  bar.append(el("div", { class: "axis", style: "left:50%" }));
  if (judged) {
    const ci = el("div", { class: "ci " + comparison.verdict });
    ci.style.left = x(judged[0]);
    ci.style.width = "calc(" + x(judged[1]) + " - " + x(judged[0]) + ")";
    bar.append(ci);
  }
  if (comparison.relative_lift !== null) {
    const point = el("div", { class: "point" });
    point.style.left = x(comparison.relative_lift);
    bar.append(point);
  }
  return bar;
}

function metricSection(result, settings) {
  const judgedOf = (c) => c.interval;
  const extent = Math.max(0.05, ...result.comparisons.flatMap((c) => (judgedOf(c) || [0, 0]).map(Math.abs)));
  const control = result.arms[0];
  const rows = [el("tr", { "data-arm": control.arm },
    el("td", {}, control.arm, el("span", { class: "muted" }, " (control)")),
    el("td", { class: "num" }, control.units),
    el("td", { class: "num mean" }, value(result.metric, control.mean)),
    el("td", {}, "–"), el("td", {}, ""), el("td", { class: "num" }, "–"), el("td", { class: "num" }, "–"), el("td", {}, ""))];
  for (const c of result.comparisons) {
    const arm = result.arms.find((a) => a.arm === c.arm);
    const p = c.p_value_adjusted !== null ? c.p_value_adjusted : c.p_value;
    rows.push(el("tr", { "data-arm": c.arm },
      el("td", {}, c.arm),
      el("td", { class: "num" }, arm.units),
      el("td", { class: "num mean" }, value(result.metric, arm.mean)),
      el("td", { class: "num lift" }, c.relative_lift === null ? "–" : signed(c.relative_lift)),
      el("td", {}, liftBar(c, judgedOf(c), extent), el("div", { class: "muted" }, interval(judgedOf(c)))),
      el("td", { class: "num" }, p === null ? "–" : p.toFixed(4)),
      el("td", { class: "num chance" }, c.chance_to_win === null ? "–" : (c.chance_to_win * 100).toFixed(1) + "%"),
      el("td", { class: c.verdict }, c.verdict + (c.cuped ? " · CUPED" : ""))));
  }
  const role = result.role === "primary" ? "primary metric" : result.role === "guardrail" ? "guardrail: must not get worse" : "secondary metric";
  return el("section", { "data-metric": result.metric },
    el("h2", {}, LABELS[result.metric] + " ", el("span", { class: "muted" }, "— " + role)),
    el("table", {},
      el("thead", {}, el("tr", {}, el("th", {}, "arm"), el("th", { class: "num" }, "customers"), el("th", { class: "num" }, "value"),
        el("th", { class: "num" }, "lift"), el("th", {}, (settings.sequential ? "always-valid " : "") + Math.round((1 - settings.alpha) * 100) + "% interval"),
        el("th", { class: "num" }, result.role === "primary" ? "p (Holm)" : "p"), el("th", { class: "num" }, "chance to win"), el("th", {}, "verdict"))),
      el("tbody", {}, ...rows)));
}

function chart(points, arms) {
  const days = [...new Set(points.map((p) => p.day))].sort();
  if (days.length === 0) return el("p", { class: "muted" }, "No exposure yet.");
  const xs = days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  const series = arms.map((arm) => {
    let last = null;
    return days.map((d) => {
      const p = points.find((q) => q.day === d && q.arm === arm);
      if (p) last = p.rate * 100;
      return last;
    });
  });
  const colours = ["#5b6475", "#2f5bd3", "#1a7f37", "#b7791f", "#8e44ad", "#c0362c"];
  const box = el("div", { id: "chart" });
  const options = {
    width: Math.min(1100, document.body.clientWidth - 64), height: 280,
    series: [{}, ...arms.map((arm, i) => ({ label: arm, stroke: colours[i % colours.length], width: 2, value: (u, v) => v === null ? "–" : v.toFixed(2) + "%" }))],
    axes: [{}, { label: "cumulative conversion, %" }],
  };
  // Drawn after the box is in the page, so that uPlot can measure it.
  setTimeout(() => new uPlot(options, [xs, ...series], box), 0);
  return box;
}

(async () => {
  const id = decodeURIComponent(location.pathname.split("/").pop());
  const data = await getJson("/v1/experiments/" + encodeURIComponent(id) + "/results");
  if (!data) return;
  const e = data.experiment;
  document.title = e.name + " · nextbest";
  const content = document.getElementById("content");
  content.append(
    el("h1", {}, e.name + " ", el("span", { class: "status " + e.status }, e.status)),
    el("p", { class: "muted" }, e.id + " · started " + (e.started_at || "–").slice(0, 10) + (e.stopped_at ? " · stopped " + e.stopped_at.slice(0, 10) : "") +
      " · traffic " + (e.traffic * 100).toFixed(0) + "% · outcomes counted for " + e.attribution_window_days + " days after a customer's first exposure"),
    e.hypothesis ? el("p", {}, el("b", {}, "Hypothesis: "), e.hypothesis) : null,
    el("div", { class: "verdict", id: "verdict" }, data.verdict));
  for (const warning of data.health) {
    content.append(el("div", { class: "warning", "data-code": warning.code }, warning.message));
  }
  content.append(el("h2", {}, "Arms"), el("table", { id: "arms" },
    el("thead", {}, el("tr", {}, el("th", {}, "arm"), el("th", {}, "policy"), el("th", { class: "num" }, "weight"), el("th", { class: "num" }, "customers"), el("th", { class: "num" }, "decisions"))),
    el("tbody", {}, ...data.arms.map((a) => el("tr", { "data-arm": a.arm },
      el("td", {}, a.arm), el("td", {}, a.policy || "holdout: no action"), el("td", { class: "num" }, (a.weight * 100).toFixed(0) + "%"),
      el("td", { class: "num units" }, a.units), el("td", { class: "num" }, a.exposures))))));
  for (const result of data.metrics) content.append(metricSection(result, data.settings));
  content.append(el("h2", {}, "Cumulative conversion by day of first exposure"), chart(data.cumulative, data.arms.map((a) => a.arm)));
  document.body.setAttribute("data-loaded", "true");
})().catch(fail);
