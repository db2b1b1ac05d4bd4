// Authara's page script: small helpers for the HTMX layer (pages work without it).
// - a toast's close button removes it;
// - an HTMX answer that is not HTML (a proxy's JSON or plain-text error) is not swapped
//   into the page: a generic toast says what happened instead;
// - a request that never reached the server says so in a toast.
// Loaded from our own origin with `defer`: no inline script, no eval (CSP script-src 'self').
(function () {
  "use strict";

  function showToast(message) {
    var region = document.getElementById("toasts");
    if (!region) return;
    var toast = document.createElement("div");
    toast.className = "toast";
    toast.setAttribute("role", "alert");
    toast.setAttribute("data-testid", "toast");
    var text = document.createElement("p");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("data-toast-dismiss", "");
    close.setAttribute("aria-label", "Dismiss this message");
    close.textContent = "\u00d7";
    toast.appendChild(text);
    toast.appendChild(close);
    region.replaceChildren(toast);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target instanceof Element ? target.closest("[data-toast-dismiss]") : null;
    if (!button) return;
    var toast = button.closest(".toast");
    if (toast) toast.remove();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status < 400) return;
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") === 0) return; // the server's own re-render or toast
    event.detail.shouldSwap = false;
    showToast("Something went wrong (" + xhr.status + "). Please try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached. Check your connection and try again.");
  });
})();
