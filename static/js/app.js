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

  // <input type="file" data-fill="ID">: read the chosen text file into the textarea #ID
  // (pages take pasted CSV, so a file never leaves the browser as multipart).
  function fileFills(root) {
    (root || document).querySelectorAll("input[type=file][data-fill]").forEach(function (input) {
      if (input.dataset.fillBound === "1") return;
      input.dataset.fillBound = "1";
      input.addEventListener("change", function () {
        var target = document.getElementById(input.dataset.fill);
        if (!target || !input.files || !input.files[0]) return;
        input.files[0].text().then(function (text) { target.value = text; });
      });
    });
  }

  // <input type="range" data-show="ID">: show the slider's value in #ID while it moves.
  function sliderValues(root) {
    (root || document).querySelectorAll("input[type=range][data-show]").forEach(function (input) {
      if (input.dataset.showBound === "1") return;
      input.dataset.showBound = "1";
      input.addEventListener("input", function () {
        var out = document.getElementById(input.dataset.show);
        if (out) out.textContent = input.value;
      });
    });
  }

  function init(root) { drawCharts(root); confirmForms(root); fileFills(root); sliderValues(root); }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { init(ev.target); });
  // Toasts fade after a while.
  document.addEventListener("htmx:oobAfterSwap", function () {
    setTimeout(function () { document.querySelectorAll(".toast").forEach(function (t) { t.remove(); }); }, 6000);
  });
})();
