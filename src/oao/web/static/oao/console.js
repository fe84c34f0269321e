// Merchant dashboard: small progressive enhancements only; every page works without this file.
(function () {
  "use strict";
  // A select marked data-autosubmit (merchant switch, stock location) submits its form on change;
  // without JavaScript the form's own button does the same.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
    }
  });
})();
