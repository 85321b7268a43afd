// /experiments: every experiment, newest first, with its status and arms.
"use strict";

(async () => {
  const data = await getJson("/v1/experiments");
  if (!data) return;
  const content = document.getElementById("content");
  if (data.experiments.length === 0) {
    content.append(el("p", { class: "muted" }, "No experiment yet. Define one with POST /v1/experiments or `nextbest experiment create`."));
    return;
  }
  const rows = data.experiments.slice().reverse().map((e) => el("tr", {},
    el("td", {}, el("a", { href: "/experiments/" + encodeURIComponent(e.id) }, e.name), el("div", { class: "muted" }, e.id)),
    el("td", {}, el("span", { class: "status " + e.status }, e.status)),
    el("td", {}, e.arms.map((a) => a.name + (a.policy ? " (" + a.policy + ")" : " (holdout)")).join(", ")),
    el("td", { class: "num" }, (e.traffic * 100).toFixed(0) + "%"),
    el("td", {}, e.started_at ? e.started_at.slice(0, 10) : "–"),
  ));
  content.append(el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "experiment"), el("th", {}, "status"), el("th", {}, "arms"), el("th", { class: "num" }, "traffic"), el("th", {}, "started"))),
    el("tbody", {}, ...rows)));
})().catch(fail);
