/* pyload's HTML report: draws the charts described by the page's "charts" JSON island with uPlot.
   Everything drawn was computed by pyload (pyload/_html_charts.py); this only draws it:
   one uPlot per <div class="plot" data-chart=ID>, the per-second charts' cursors synced,
   redrawn in the page's colours when the colour scheme changes and for printing. */
(function () {
  "use strict";
  var spec = JSON.parse(document.getElementById("charts").textContent);
  var byId = {};
  spec.charts.forEach(function (chart) { byId[chart.id] = chart; });
  var HEIGHT = 260;
  var PRINT_WIDTH = 680;
  var PRINT_COLOURS = { axis: "#222222", grid: "rgba(0, 0, 0, 0.12)" };
  var plots = [];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function number(v, unit) {
    if (v === null || v === undefined || isNaN(v)) return "-";
    var abs = Math.abs(v);
    var text = abs >= 100 || unit === "" ? v.toFixed(abs >= 100 || v % 1 === 0 ? 0 : 1)
      : abs >= 10 ? v.toFixed(1) : abs >= 1 ? v.toFixed(2) : v.toFixed(3);
    return unit === "ms" ? text + " ms" : unit === "/s" ? text + "/s" : text;
  }

  // An axis value: 40k, 1.5M, 0.25 (as many decimals as the step between ticks has).
  function tick(incr) {
    var scale = incr >= 1e6 ? 1e6 : incr >= 1e3 ? 1e3 : 1;
    var suffix = scale === 1e6 ? "M" : scale === 1e3 ? "k" : "";
    var decimals = Math.min(6, (String(incr / scale).split(".")[1] || "").length);
    return function (v) { return v === 0 ? "0" : (v / scale).toFixed(decimals) + suffix; };
  }

  // The nines axis: x is 1/(1-p); 10^k is the percentile with k nines.
  function ninesLabel(x) {
    var k = Math.round(Math.log10(x));
    if (k <= 0) return "0%";
    if (k === 1) return "90%";
    if (k === 2) return "99%";
    return "99." + "9".repeat(k - 2) + "%";
  }

  function percentileAt(x) {
    if (x === null || x === undefined) return "-";
    var p = 100 * (1 - 1 / x);
    var digits = Math.min(6, Math.max(0, Math.ceil(Math.log10(x)) - 1));
    return p.toFixed(digits) + "%";
  }

  function withAlpha(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function yRange(u, min, max) {
    if (max === null || max === undefined || !isFinite(max) || max <= 0) return [0, 1];
    return [0, max * 1.08];
  }

  function options(chart, width, colours) {
    var nines = chart.kind === "nines";
    var axis = {
      stroke: colours.axis,
      grid: { stroke: colours.grid, width: 1 },
      ticks: { stroke: colours.grid, width: 1 },
    };
    var xAxis = Object.assign({}, axis, {
      label: nines ? "percentile (log scale of 1/(1-p))" : "second of the run",
    });
    if (nines) {
      xAxis.splits = function (u, i, min, max) {
        var splits = [];
        for (var v = 1; v <= max * 1.0001; v *= 10) splits.push(v);
        return splits;
      };
      xAxis.values = function (u, splits) { return splits.map(ninesLabel); };
    } else {
      xAxis.incrs = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
      xAxis.values = function (u, splits) {
        return splits.map(function (v) {
          return v >= 120 && v % 60 === 0 ? v / 60 + "m" : v + "s";
        });
      };
    }
    var yAxis = Object.assign({}, axis, {
      label: chart.y_label,
      size: 60,
      values: function (u, splits, i, space, incr) { return splits.map(tick(incr)); },
    });
    var few = chart.x.length <= 3;
    var series = [{
      label: nines ? "percentile" : "second",
      value: function (u, v) {
        if (v === null || v === undefined) return "-";
        return nines ? percentileAt(v) : "second " + v;
      },
    }];
    chart.series.forEach(function (s) {
      var entry = {
        label: s.label,
        stroke: s.color,
        width: s.fill ? 1 : 2,
        spanGaps: chart.span_gaps,
        value: function (u, v, si, i) {
          var shown = s.raw && i !== null && i !== undefined ? s.raw[i] : v;
          return number(shown, chart.unit);
        },
      };
      if (s.dash) entry.dash = [7, 4];
      if (s.fill) entry.fill = withAlpha(s.color, 0.85);
      if (nines) {
        entry.paths = uPlot.paths.stepped({ align: 1 });
        entry.points = { show: false };
      }
      if (s.fill) entry.paths = uPlot.paths.bars({ size: [0.7, 60] });
      if (few && !s.fill && !nines) entry.points = { show: true, size: 7, fill: s.color };
      if (s.fill) entry.points = { show: false };
      series.push(entry);
    });
    var xScale = { time: false, range: chart.x_range };
    if (nines) { xScale.distr = 3; xScale.log = 10; }
    return {
      width: width,
      height: HEIGHT,
      padding: [12, nines ? 32 : 16, 0, 0],  // room for the last tick's label
      series: series,
      axes: [xAxis, yAxis],
      scales: { x: xScale, y: { range: yRange } },
      cursor: nines ? { drag: { x: false, y: false } }
        : { sync: { key: "pyload-seconds" }, drag: { x: false, y: false } },
      legend: { live: true },
    };
  }

  function data(chart) {
    var x = chart.x.length ? chart.x : chart.x_range;
    var columns = [x];
    chart.series.forEach(function (s) {
      columns.push(chart.x.length ? s.values : x.map(function () { return null; }));
    });
    return columns;
  }

  function drawAll(printing) {
    plots.forEach(function (plot) { plot.destroy(); });
    plots = [];
    var colours = printing ? PRINT_COLOURS : { axis: cssVar("--axis"), grid: cssVar("--grid") };
    document.querySelectorAll(".plot[data-chart]").forEach(function (el) {
      var chart = byId[el.getAttribute("data-chart")];
      if (!chart) return;
      var width = printing ? PRINT_WIDTH : Math.max(320, el.clientWidth);
      var plot = new uPlot(options(chart, width, colours), data(chart), el);
      plots.push(plot);
      var note = el.querySelector(".empty");
      if (chart.empty && !note) {
        note = document.createElement("p");
        note.className = "empty";
        note.textContent = chart.empty;
        el.appendChild(note);
      }
      el.setAttribute("data-drawn", "1");
    });
  }

  var pending = false;
  function resize() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
      pending = false;
      plots.forEach(function (plot) {
        var width = Math.max(320, plot.root.parentNode.clientWidth);
        plot.setSize({ width: width, height: HEIGHT });
      });
    });
  }

  drawAll(false);
  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    drawAll(true);
  });
  window.addEventListener("afterprint", function () { drawAll(false); });
  if (window.matchMedia) {
    var dark = window.matchMedia("(prefers-color-scheme: dark)");
    var redraw = function () { drawAll(false); };
    if (dark.addEventListener) dark.addEventListener("change", redraw);
  }
})();
