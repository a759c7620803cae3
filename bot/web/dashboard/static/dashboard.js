// Draw the dashboard's charts with Chart.js from the data each canvas carries.
// The only script of the dashboard: pages work (as tables) without it.
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04", "#db2777"];

  function color(n, alpha) {
    var hex = PALETTE[n % PALETTE.length];
    var r = parseInt(hex.slice(1, 3), 16), g = parseInt(hex.slice(3, 5), 16), b = parseInt(hex.slice(5, 7), 16);
    return "rgba(" + r + "," + g + "," + b + "," + alpha + ")";
  }

  function done(canvas) {
    canvas.setAttribute("data-drawn", "1");
  }

  function integers(count) {
    var ticks = [];
    for (var n = 0; n < count; n++) { ticks.push({ value: n }); }
    return ticks;
  }

  function heatmap(canvas, data) {
    var points = [], max = 0;
    data.series.forEach(function (row, y) {
      row.values.forEach(function (value, x) {
        points.push({ x: x, y: y, v: value });
        if (value > max) { max = value; }
      });
    });
    var rows = data.series.map(function (s) { return s.name; });
    return new Chart(canvas, {
      type: "scatter",
      data: {
        datasets: [{
          data: points,
          pointStyle: "rect",
          radius: function (ctx) {
            var area = ctx.chart.chartArea;
            if (!area) { return 4; }
            var w = area.width / Math.max(1, data.labels.length);
            var h = area.height / Math.max(1, rows.length);
            return Math.max(2, Math.min(w, h) / 2 - 1);
          },
          backgroundColor: function (ctx) {
            var v = ctx.raw ? ctx.raw.v : 0;
            return color(0, max ? 0.08 + 0.92 * v / max : 0.08);
          },
          borderWidth: 0
        }]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                return rows[ctx.raw.y] + " · " + data.labels[ctx.raw.x] + ": " + ctx.raw.v;
              }
            }
          }
        },
        scales: {
          x: {
            type: "linear", min: -0.5, max: data.labels.length - 0.5,
            afterBuildTicks: function (axis) { axis.ticks = integers(data.labels.length); },
            ticks: { autoSkip: false, callback: function (v) { return data.labels[v]; } },
            grid: { display: false }
          },
          y: {
            type: "linear", min: -0.5, max: rows.length - 0.5, reverse: true,
            afterBuildTicks: function (axis) { axis.ticks = integers(rows.length); },
            ticks: { autoSkip: false, callback: function (v) { return rows[v]; } },
            grid: { display: false }
          }
        }
      }
    });
  }

  function chart(canvas) {
    var data = JSON.parse(canvas.getAttribute("data-chart"));
    if (data.kind === "heatmap") { return heatmap(canvas, data); }
    var line = data.kind === "line";
    return new Chart(canvas, {
      type: line ? "line" : "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s, n) {
          return {
            label: s.name,
            data: s.values,
            borderColor: color(n, 1),
            backgroundColor: color(n, line ? 0.15 : 0.7),
            pointRadius: 0,
            tension: 0.2
          };
        })
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: data.kind === "stacked" },
          y: { stacked: data.kind === "stacked", beginAtZero: true }
        }
      }
    });
  }

  function spark(canvas) {
    var values = JSON.parse(canvas.getAttribute("data-values"));
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: values.map(function (_, n) { return n; }),
        datasets: [{ data: values, borderColor: color(0, 1), borderWidth: 1.5, pointRadius: 0, fill: false }]
      },
      options: {
        animation: false,
        responsive: false,
        plugins: { legend: { display: false }, tooltip: { enabled: false } },
        scales: { x: { display: false }, y: { display: false } }
      }
    });
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    chart(canvas);
    done(canvas);
  });
  document.querySelectorAll("canvas[data-values]").forEach(function (canvas) {
    spark(canvas);
    done(canvas);
  });
})();
