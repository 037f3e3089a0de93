// Axisboard front-end glue: no inline scripts (CSP), so behaviour is attached here.
(function () {
  "use strict";

  // Plotly (1.2 MB) is fetched only when a page, or a fragment swapped in by htmx, has a chart:
  // its content-hashed URL is on this script's data-plotly attribute.
  var PLOTLY_SRC = (document.currentScript && document.currentScript.dataset.plotly) || null;
  var plotlyLoading = null;

  function loadPlotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!plotlyLoading) {
      plotlyLoading = new Promise(function (resolve, reject) {
        if (!PLOTLY_SRC) { reject(new Error("no chart library configured")); return; }
        var s = document.createElement("script");
        s.src = PLOTLY_SRC;
        s.async = true;
        s.onload = function () { resolve(window.Plotly); };
        s.onerror = function () { plotlyLoading = null; reject(new Error("the chart library did not load")); };
        document.head.appendChild(s);
      });
    }
    return plotlyLoading;
  }

  function drawCharts(root) {
    var pending = Array.prototype.filter.call(
      (root || document).querySelectorAll(".chart[data-figure]"),
      function (el) { return el.dataset.drawn !== "1"; });
    if (!pending.length) return;
    loadPlotly().then(function (Plotly) {
      pending.forEach(function (el) {
        if (el.dataset.drawn === "1" || !el.isConnected) return;
        try {
          var fig = JSON.parse(el.dataset.figure);
          var layout = fig.layout || {};
          layout.autosize = true;  // follow the card's width (phones included)
          delete layout.width;
          var narrow = el.clientWidth < 600;
          if (narrow && layout.title) {  // a phone: a smaller title, no toolbar over it
            if (typeof layout.title === "string") layout.title = { text: layout.title };
            layout.title.font = Object.assign({}, layout.title.font || {}, { size: 12 });
          }
          var config = { responsive: true, displaylogo: false, displayModeBar: narrow ? false : "hover" };
          Plotly.newPlot(el, fig.data, layout, config);
          el.dataset.drawn = "1";
        } catch (err) {
          el.textContent = "Chart could not be drawn: " + err.message;
        }
      });
    }, function (err) {
      pending.forEach(function (el) { el.textContent = "Chart could not be drawn: " + err.message; });
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

  // <input type="file" data-b64="ID">: the chosen file, base64-encoded, into the hidden input #ID
  // and its name and type into #ID-name and #ID-type (evidence files: pages take no multipart).
  function fileBase64(root) {
    (root || document).querySelectorAll("input[type=file][data-b64]").forEach(function (input) {
      if (input.dataset.b64Bound === "1") return;
      input.dataset.b64Bound = "1";
      input.addEventListener("change", function () {
        var id = input.dataset.b64, f = input.files && input.files[0];
        var data = document.getElementById(id);
        if (!data || !f) return;
        var reader = new FileReader();
        reader.onload = function () {
          data.value = String(reader.result).split(",", 2)[1] || "";
          document.getElementById(id + "-name").value = f.name;
          document.getElementById(id + "-type").value = f.type;
        };
        reader.readAsDataURL(f);
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

  // The collapsed navigation on narrow screens: the button opens and closes it.
  function navToggle(root) {
    (root || document).querySelectorAll("button[data-nav-toggle]").forEach(function (btn) {
      if (btn.dataset.navBound === "1") return;
      btn.dataset.navBound = "1";
      btn.addEventListener("click", function () {
        var bar = btn.closest(".topbar");
        var open = !bar.classList.contains("nav-open");
        bar.classList.toggle("nav-open", open);
        btn.setAttribute("aria-expanded", open ? "true" : "false");
      });
    });
  }

  // A form that autosaves by htmx and submits normally (the questionnaire): the submit is the
  // last write. It waits for an autosave in flight and cancels one still pending, so that no
  // autosave lands after the submit (re-creating the draft the submit deleted) or is cut off by
  // the page change.
  function autosaveForms(root) {
    (root || document).querySelectorAll("form[data-autosave]").forEach(function (form) {
      if (form.dataset.autosaveBound === "1") return;
      form.dataset.autosaveBound = "1";
      form.addEventListener("submit", function (ev) {
        form.dataset.submitting = "1";
        if (form.classList.contains("htmx-request")) {
          ev.preventDefault();
          form.addEventListener("htmx:afterRequest", function () { form.submit(); }, { once: true });
        }
      });
      form.addEventListener("htmx:beforeRequest", function (ev) {
        if (form.dataset.submitting === "1" && ev.detail.elt === form) ev.preventDefault();
      });
    });
  }

  // Busy indicators (issue 22, item 10): an action that takes longer than BUSY_AFTER_MS shows it
  // is working: its button is disabled and reads "Working…" with a spinner, and the form (or the
  // htmx target) is aria-busy, until the answer arrives. Normal submits mark the button at once
  // (the page is being replaced); disabling waits a tick so the button's name/value is still sent.
  var BUSY_AFTER_MS = 300;

  function busyButtons(elt, submitter) {
    if (submitter && submitter.matches && submitter.matches("button, input[type=submit]")) return [submitter];
    if (!elt) return [];
    if (elt.matches && elt.matches("button, input[type=submit]")) return [elt];
    if (elt.tagName === "FORM") {
      var buttons = elt.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]");
      var primary = Array.prototype.filter.call(buttons, function (b) { return b.classList.contains("primary"); });
      return primary.length ? primary.slice(0, 1) : Array.prototype.slice.call(buttons, 0, 1);
    }
    return [];
  }

  function setBusy(buttons, holder, on) {
    buttons.forEach(function (b) {
      if (on) {
        if (b.dataset.busy === "1") return;
        b.dataset.busy = "1";
        b.dataset.label = b.tagName === "INPUT" ? b.value : b.innerHTML;
        b.disabled = true;
        b.classList.add("is-busy");
        if (b.tagName === "INPUT") b.value = "Working…";
        else b.innerHTML = '<span class="spinner" aria-hidden="true"></span> Working…';
      } else if (b.dataset.busy === "1") {
        b.dataset.busy = "";
        b.disabled = false;
        b.classList.remove("is-busy");
        if (b.tagName === "INPUT") b.value = b.dataset.label; else b.innerHTML = b.dataset.label;
      }
    });
    if (holder) {
      if (on) holder.setAttribute("aria-busy", "true"); else holder.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("htmx:beforeRequest", function (ev) {
    var elt = ev.detail.elt;
    // background requests (polling, badges, autosaves, live previews) are not user actions
    var trigger = ev.detail.requestConfig && ev.detail.requestConfig.triggeringEvent;
    var kind = trigger ? trigger.type : "";
    if (!kind || kind === "load" || kind === "every") return;
    var action = kind === "submit" || kind === "click";
    // a user action: its button and its form; a live update (change, input): the part it redraws
    var buttons = action ? busyButtons(elt, trigger.submitter) : [];
    var holder = action && elt.tagName === "FORM" ? elt : ev.detail.target;
    var timer = setTimeout(function () { setBusy(buttons, holder, true); }, BUSY_AFTER_MS);
    elt.addEventListener("htmx:afterRequest", function done() {
      clearTimeout(timer);
      setBusy(buttons, holder, false);
    }, { once: true });
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (ev.defaultPrevented || form.tagName !== "FORM") return;
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-get") || form.hasAttribute("hx-put")) return;
    if (form.method && form.method.toLowerCase() === "get" && !form.hasAttribute("data-busy")) return;
    var buttons = busyButtons(form, ev.submitter);
    setTimeout(function () { setBusy(buttons, form, true); }, 0);
  });
  // Back to a page from the cache (the back button): nothing is in flight any more.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) return;
    document.querySelectorAll("[data-busy='1']").forEach(function (b) { setBusy([b], b.form, false); });
  });

  function toast(message) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = document.createElement("div");
    t.className = "toast toast-error";
    t.setAttribute("role", "alert");
    t.textContent = message;
    box.appendChild(t);
    setTimeout(function () { t.remove(); }, 8000);
  }

  // A failed htmx request is never silent: show the error toast the server rendered (htmx does not
  // swap 4xx/5xx answers, out-of-band parts included; 409 and 422 are swapped, see base.html's
  // htmx-config, so their inline reason shows where the form put it), else the first inline alert
  // it rendered, else say what happened.
  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail.xhr;
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      var found = doc.querySelector("#toasts .toast, .toast") || doc.querySelector("[role='alert']");
      text = found ? found.textContent.trim() : "";
    } catch (err) { text = ""; }
    toast(text || ("The server answered " + xhr.status + "; nothing was changed. Please retry."));
  });
  document.addEventListener("htmx:sendError", function () {
    toast("The server could not be reached; nothing was changed. Please retry.");
  });

  function init(root) {
    drawCharts(root); confirmForms(root); fileFills(root); fileBase64(root); sliderValues(root); navToggle(root);
    autosaveForms(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { init(ev.target); });
  // Toasts fade after a while.
  document.addEventListener("htmx:oobAfterSwap", function () {
    setTimeout(function () { document.querySelectorAll(".toast").forEach(function (t) { t.remove(); }); }, 6000);
  });
})();
