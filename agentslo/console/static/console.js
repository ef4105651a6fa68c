// AgentSLO console: times in the browser's time zone, and the Plotly figures the server built.
"use strict";

// "2026-03-31T12:00:00.000Z" -> "2026-03-31 14:00:00" in the browser's zone: what Plotly's date axes read.
function localWallTime(iso) {
  const d = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  timeZoneName: "short",
});

function localizeTimes() {
  for (const el of document.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(d.getTime())) {
      el.textContent = timeFormat.format(d);
      el.title = el.getAttribute("datetime");
    }
  }
}

function drawCharts() {
  if (typeof Plotly === "undefined") return;
  for (const script of document.querySelectorAll("script[data-figure-for]")) {
    const figure = JSON.parse(script.textContent);
    const dates = figure.layout && figure.layout.xaxis && figure.layout.xaxis.type === "date";
    if (dates) {
      for (const trace of figure.data) trace.x = (trace.x || []).map(localWallTime);
      for (const shape of figure.layout.shapes || []) {
        if (shape.xref === "x") { shape.x0 = localWallTime(shape.x0); shape.x1 = localWallTime(shape.x1); }
      }
    }
    Plotly.newPlot(script.dataset.figureFor, figure.data, figure.layout,
                   { displaylogo: false, responsive: true });
  }
}

document.addEventListener("DOMContentLoaded", () => { localizeTimes(); drawCharts(); });
