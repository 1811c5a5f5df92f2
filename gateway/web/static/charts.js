// Draws each <canvas data-chart="ID"> from the Chart.js configuration in <script id="ID"
// type="application/json"> (built on the server, gateway/web/charts.py).
(function () {
  "use strict";
  if (!window.Chart) { return; }
  Chart.defaults.color = "#1b1f24";
  Chart.defaults.font.family = "system-ui, -apple-system, 'Segoe UI', sans-serif";
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var config = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
    new Chart(canvas, config);
  });
})();
