// The console's one script (served by the app: GET /api/console/static/console.js). Progressive only: every page
// works without it. Values are inserted with textContent, never as HTML.
(function () {
  "use strict";

  function progress() {
    var box = document.getElementById("progress");
    if (!box || !box.dataset.progressUrl) return;
    var url = box.dataset.progressUrl;
    var phase = box.querySelector("[data-field=phase]");
    var counts = box.querySelector("[data-field=counts]");
    function show(data) {
      if (!data.running) { window.location.reload(); return false; }
      phase.textContent = data.phase || "";
      var list = document.createElement("ul");
      list.className = "counts";
      Object.keys(data.counts || {}).sort().forEach(function (key) {
        var item = document.createElement("li");
        item.textContent = key + ": " + data.counts[key];
        list.appendChild(item);
      });
      counts.replaceChildren(list);
      return true;
    }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data && show(data)) window.setTimeout(tick, 3000); })
        .catch(function () { /* the Refresh link still works */ });
    }
    window.setTimeout(tick, 3000);
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var input = document.getElementById(button.dataset.copy);
      if (!input) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        input.select();
        var done = function () { button.textContent = "Copied"; };
        if (navigator.clipboard) navigator.clipboard.writeText(input.value).then(done, function () {});
        else { document.execCommand("copy"); done(); }
      });
    });
  }

  function toggles() {
    var ownApp = document.querySelector("fieldset.own-app");
    var modes = document.querySelectorAll("input[name=credential_mode]");
    function mode() {
      var chosen = document.querySelector("input[name=credential_mode]:checked");
      if (ownApp) ownApp.classList.toggle("is-hidden", !chosen || chosen.value !== "customer_app");
    }
    modes.forEach(function (m) { m.addEventListener("change", mode); });
    if (modes.length) mode();
    var frequency = document.getElementById("frequency");
    var days = document.querySelector(".weekdays");
    function week() { if (days) days.classList.toggle("is-hidden", frequency.value !== "weekly"); }
    if (frequency) { frequency.addEventListener("change", week); week(); }
  }

  function follow() {
    // Grant permissions: on to Entra ID's admin-consent page (a link, as the CSP allows no cross-site form answer).
    var link = document.querySelector("a[data-follow]");
    if (link) window.location.assign(link.href);
  }

  document.addEventListener("DOMContentLoaded", function () { progress(); copyButtons(); toggles(); follow(); });
})();
