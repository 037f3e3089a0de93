// Axisboard front-end glue: no inline scripts (CSP), so behaviour is attached here.
(function () {
  "use strict";

  function drawCharts(root) {
    if (typeof window.Plotly === "undefined") return;
    (root || document).querySelectorAll(".chart[data-figure]").forEach(function (el) {
      if (el.dataset.drawn === "1") return;
      try {
        var fig = JSON.parse(el.dataset.figure);
        var config = { responsive: true, displaylogo: false };
        window.Plotly.newPlot(el, fig.data, fig.layout || {}, config);
        el.dataset.drawn = "1";
      } catch (err) {
        el.textContent = "Chart could not be drawn: " + err.message;
      }
    });
  }

  function confirmForms(root) {
    (root || document).querySelectorAll("form[data-confirm]").forEach(function (form) {
      if (form.dataset.confirmBound === "1") return;
      form.dataset.confirmBound = "1";
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
      });
    });
  }

  function init(root) { drawCharts(root); confirmForms(root); }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { init(ev.target); });
  // Toasts fade after a while.
  document.addEventListener("htmx:oobAfterSwap", function () {
    setTimeout(function () { document.querySelectorAll(".toast").forEach(function (t) { t.remove(); }); }, 6000);
  });
})();
