/* Kiosk mode (store console): keeps the scanner field focused and starts over when nobody touches
   the screen. Plain script, no framework; the pages work without it (forms POST and redirect).

   - [data-kiosk-scan] input: a barcode scanner types into it like a keyboard, so it keeps the focus
     unless the shopper is using another field.
   - Idle: after `data-idle-seconds` (on this script tag) without a touch, key or scroll, a
     "Still there?" notice counts down 10 s, then the visit is reset (POST /store/kiosk/reset), which
     clears her basket and member and releases anything held. */
(function () {
  "use strict";
  var script = document.currentScript;
  var idleSeconds = parseInt((script && script.getAttribute("data-idle-seconds")) || "0", 10);
  var WARN_SECONDS = 10;

  function scanField() {
    return document.querySelector("[data-kiosk-scan] input[type=text]");
  }

  function keepScannerFocus() {
    var field = scanField();
    if (!field) { return; }
    var active = document.activeElement;
    var busy = active && active !== document.body && active !== field &&
      /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
    if (!busy) { field.focus({ preventScroll: true }); }
  }

  document.addEventListener("DOMContentLoaded", keepScannerFocus);
  document.addEventListener("htmx:afterSettle", keepScannerFocus);
  document.addEventListener("click", function (event) {
    // A tap on a product tile or button gives the focus back to the scanner afterwards.
    if (!event.target.closest("input, select, textarea, label")) { window.setTimeout(keepScannerFocus, 0); }
  });

  if (!idleSeconds) { return; }
  var notice = null, countdown = null, idleTimer = null, tickTimer = null, remaining = 0;

  function resetVisit() {
    var form = document.getElementById("kiosk-idle-reset");
    if (form) { form.submit(); } else { window.location.assign("/store/kiosk"); }
  }

  function hideNotice() {
    if (tickTimer) { window.clearInterval(tickTimer); tickTimer = null; }
    if (notice) { notice.hidden = true; }
  }

  function warn() {
    if (!notice) { resetVisit(); return; }
    remaining = Math.min(WARN_SECONDS, idleSeconds);
    countdown.textContent = String(remaining);
    notice.hidden = false;
    tickTimer = window.setInterval(function () {
      remaining -= 1;
      countdown.textContent = String(Math.max(remaining, 0));
      if (remaining <= 0) { hideNotice(); resetVisit(); }
    }, 1000);
  }

  function touched() {
    hideNotice();
    if (idleTimer) { window.clearTimeout(idleTimer); }
    var wait = Math.max(idleSeconds - WARN_SECONDS, 1) * 1000;
    idleTimer = window.setTimeout(warn, wait);
  }

  document.addEventListener("DOMContentLoaded", function () {
    notice = document.getElementById("kiosk-idle");
    countdown = notice ? notice.querySelector("[data-idle-count]") : null;
    var stay = notice ? notice.querySelector("[data-idle-stay]") : null;
    if (stay) { stay.addEventListener("click", touched); }
    touched();
  });
  ["pointerdown", "keydown", "touchstart", "wheel", "input"].forEach(function (name) {
    document.addEventListener(name, touched, { passive: true, capture: true });
  });
}());
