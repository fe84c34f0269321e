/* The member area's small helpers (no framework; the pages work without it).
   - Member code countdown: counts the seconds the shown code has left; htmx swaps in a fresh code
     before it runs out (hx-trigger="load delay:…"), which restarts the countdown.
   - Pay with points (checkout): the amount field is only in play when a points card is chosen, and
     never asks for more than the card can pay. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function startCountdown(el) {
    if (el.dataset.started) return;
    el.dataset.started = "1";
    var ends = Date.now() + Number(el.dataset.seconds || 0) * 1000;
    function tick() {
      if (!el.isConnected) return;
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = left > 0 ? "changes in " + m + ":" + (s < 10 ? "0" : "") + s : "getting a new code…";
      el.classList.toggle("soon", left <= 10);
      if (left > 0) window.setTimeout(tick, 1000);
    }
    tick();
  }

  function setUpPoints(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "1";
    var amount = box.querySelector("input[name=points_amount]");
    var choices = box.querySelectorAll("input[name=points_programme]");
    function sync() {
      var chosen = Array.prototype.find.call(choices, function (c) { return c.checked && c.value; });
      if (chosen) box.removeAttribute("data-off"); else box.setAttribute("data-off", "");
      if (!amount) return;
      amount.disabled = !chosen;
      if (chosen && chosen.dataset.max) {
        var max = Number(chosen.dataset.max);
        if (!(Number(amount.value) > 0) || Number(amount.value) > max) amount.value = chosen.dataset.max;
      }
    }
    Array.prototype.forEach.call(choices, function (c) { c.addEventListener("change", sync); });
    sync();
  }

  function init(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-countdown]").forEach(startCountdown);
    (root.querySelectorAll ? root : document).querySelectorAll("[data-pay-points]").forEach(setUpPoints);
    if (root.matches && root.matches("[data-countdown]")) startCountdown(root);
  }

  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
