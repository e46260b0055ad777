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
