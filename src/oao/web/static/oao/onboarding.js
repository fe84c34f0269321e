// Opening a shop (/join): the print button of the QR sheet (no inline scripts in the pages).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
