// Huigong console: the one script of our own (no inline script is allowed by the CSP).
// Sends the page's CSRF token (from <meta name="csrf-token">) with every htmx request.
(function () {
  "use strict";
  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var t = token();
    if (t) {
      event.detail.headers["X-CSRF-Token"] = t;
    }
  });
  // A confirmation for buttons that carry data-confirm (no inline handlers).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
})();
// The till: after a scan or a redemption, clear the scan field and put the cursor back in it,
// ready for the next card.
document.addEventListener("htmx:afterRequest", function (event) {
  var elt = event.detail && event.detail.elt;
  var scan = document.getElementById("till-scan");
  if (!scan || !elt || !elt.closest) {
    return;
  }
  if (elt === scan) {
    scan.reset();
  }
  if (elt === scan || elt.closest("#result")) {
    var field = document.getElementById("token");
    if (field) {
      field.focus();
    }
  }
});
