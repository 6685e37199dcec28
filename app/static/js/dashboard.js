/* 工作台 trends: draws each .dashboard-chart from its data-chart attribute with ECharts (our own copy;
   no inline script, so the page keeps its Content Security Policy). */
(function () {
  "use strict";
  if (!window.echarts) { return; }
  var charts = [];
  var narrow = window.matchMedia("(max-width: 767px)").matches;
  document.querySelectorAll(".dashboard-chart").forEach(function (element) {
    var spec;
    try { spec = JSON.parse(element.getAttribute("data-chart")); } catch (error) { return; }
    var chart = window.echarts.init(element, null, { renderer: "svg" });
    var stacked = spec.kind === "bar";
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: "PingFang SC, Microsoft YaHei, WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif" },
      tooltip: { trigger: "axis" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: spec.categories, axisLabel: { rotate: narrow || spec.categories.length > 8 ? 45 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: spec.series.map(function (serie) {
        return { name: serie.name, type: spec.kind === "line" ? "line" : "bar", stack: stacked ? "total" : undefined, data: serie.data };
      })
    });
    charts.push(chart);
  });
  window.addEventListener("resize", function () { charts.forEach(function (chart) { chart.resize(); }); });
  document.body.dataset.charts = "rendered";
})();
