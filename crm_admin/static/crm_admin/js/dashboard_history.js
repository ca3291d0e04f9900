// The dashboard's stage history section arrives through htmx after the page (admin/index.html).
// Unfold draws the charts once, on window load (renderCharts in unfold/js/app.js, Unfold
// 0.110), so a section that arrives later has its chart drawn here, with Unfold's options:
// DEFAULT_CHART_OPTIONS, a top-level constant of that script. Should an upgrade rename it, the
// ReferenceError fails tests/browser/test_dashboard_history.py.
"use strict";

document.addEventListener("htmx:afterSettle", (event) => {
  const section = event.target;
  if (section.id !== "dashboard-history") {
    return;
  }
  const draw = () => {
    section.querySelectorAll("canvas.chart").forEach((canvas) => {
      // Drawn already when the section came before window load: Unfold's renderCharts ran.
      if (Chart.getChart(canvas) || !canvas.dataset.value) {
        return;
      }
      new Chart(canvas, {
        type: canvas.dataset.type || "bar",
        data: JSON.parse(canvas.dataset.value),
        options: { ...DEFAULT_CHART_OPTIONS },
      });
    });
  };
  if (document.readyState === "complete") {
    draw();
  } else {
    // After Unfold's own load handler (registered first), which may have drawn it.
    window.addEventListener("load", draw, { once: true });
  }
});
