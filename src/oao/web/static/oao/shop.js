/* Storefront enhancements; every page works without this file.
   "Use my location": asks the browser for its position and posts it with the location form. */
(function () {
  "use strict";

  function setUpGeolocation(form) {
    if (!("geolocation" in navigator)) return; // the area list and address field still work
    var button = form.querySelector("[data-geo-button]");
    var status = form.querySelector("[data-geo-status]");
    form.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = "Finding you…";
      navigator.geolocation.getCurrentPosition(function (position) {
        form.elements.latitude.value = position.coords.latitude.toFixed(5);
        form.elements.longitude.value = position.coords.longitude.toFixed(5);
        status.textContent = "Found you. Loading the stores near you…";
        form.submit();
      }, function (error) {
        button.disabled = false;
        status.textContent = error.code === 1
          ? "Location is switched off for this site. Pick an area or type an address below."
          : "We could not find your position. Pick an area or type an address below.";
      }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 300000 });
    });
  }

  function ready() {
    document.querySelectorAll("[data-geo-form]").forEach(setUpGeolocation);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
