// Rollout dashboard: keeps pages live over server-sent events, counts time down, shows times
// in the reader's time zone and asks before destructive actions. Everything works without it.
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function words(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return h + "h" + (m ? m + "m" : "");
    if (m) return m + "m" + (s ? pad(s) + "s" : "");
    return s + "s";
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) return;
      el.title = el.textContent;
      var today = new Date().toDateString() === at.toDateString();
      el.textContent = today ? at.toLocaleTimeString() : at.toLocaleString();
    });
  }

  var deadlines = [];
  function countdowns(root) {
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = parseFloat(el.getAttribute("data-countdown"));
      if (isNaN(left)) return;
      deadlines.push({ el: el, until: Date.now() + left * 1000, paused: el.hasAttribute("data-paused") });
    });
  }
  setInterval(function () {
    deadlines = deadlines.filter(function (d) { return document.contains(d.el); });
    deadlines.forEach(function (d) {
      if (!d.paused) d.el.textContent = words((d.until - Date.now()) / 1000);
    });
  }, 1000);

  function typing(region) {
    var active = document.activeElement;
    if (!region.hasAttribute("data-keep-while-typing") || !active || !region.contains(active)) return false;
    return (active.tagName === "TEXTAREA" || active.tagName === "INPUT") && active.value !== "";
  }

  function enhance(root) { localTimes(root); countdowns(root); }

  function live(container) {
    var url = container.getAttribute("data-live");
    var badge = document.querySelector("[data-live-state]");
    var source = new EventSource(url);
    function state(text, cls) {
      if (!badge) return;
      badge.hidden = false;
      badge.textContent = text;
      badge.className = "live-state " + cls;
    }
    source.onopen = function () { state("live", "on"); };
    source.onerror = function () {
      state(source.readyState === EventSource.CLOSED ? "not live: reload the page" : "reconnecting…", "off");
    };
    source.addEventListener("update", function (event) {
      var regions = JSON.parse(event.data).regions;
      Object.keys(regions).forEach(function (id) {
        var region = document.getElementById(id);
        if (!region || typing(region)) return;
        region.innerHTML = regions[id];
        enhance(region);
      });
    });
    source.addEventListener("gone", function () { source.close(); state("gone", "off"); });
  }

  document.addEventListener("submit", function (event) {
    var button = event.submitter || event.target.querySelector("[data-confirm]");
    var question = button && button.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    document.querySelectorAll("[data-live]").forEach(live);
  });
})();
