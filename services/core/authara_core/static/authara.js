// Authara's page script: small helpers for the HTMX layer (pages work without it).
// - a toast's close button removes it;
// - an HTMX answer that is not HTML (a proxy's JSON or plain-text error) is not swapped
//   into the page: a generic toast says what happened instead;
// - a request that never reached the server says so in a toast;
// - each password input gets a "Show password" button after it (also in content HTMX swaps
//   in); without JavaScript there is no button and the input stays a plain password field.
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

  // The button's text is its name and says what a press does ("Show password", "Hide
  // password"). No aria-pressed: a toggle whose name changes with its state reads wrong
  // ("Hide password, pressed"), so the name carries the state, as GOV.UK's password input does.
  var SHOW = "Show password";
  var HIDE = "Hide password";

  function setShown(input, button, shown) {
    input.type = shown ? "text" : "password";
    button.textContent = shown ? HIDE : SHOW;
  }

  function addPasswordToggles(root) {
    var inputs = root.querySelectorAll("input[type=password]:not([data-password-toggle])");
    Array.prototype.forEach.call(inputs, function (input) {
      if (!input.id) return; // aria-controls needs an id
      input.setAttribute("data-password-toggle", "");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "password-toggle";
      button.setAttribute("aria-controls", input.id);
      button.setAttribute("data-testid", "password-toggle");
      button.textContent = SHOW;
      // Several password fields on one page (change password) get several buttons of the same
      // name: each is described by its field's label ("Show password, Current password").
      var label = input.id && document.querySelector('label[for="' + input.id + '"]');
      if (label) {
        if (!label.id) label.id = input.id + "-label";
        button.setAttribute("aria-describedby", label.id);
      }
      button.addEventListener("click", function () {
        setShown(input, button, input.type === "password");
      });
      // A shown password is hidden again before its form is sent, so the browser neither
      // offers it as a remembered text entry nor leaves it on screen during the request.
      if (input.form) {
        input.form.addEventListener("submit", function () {
          setShown(input, button, false);
        });
      }
      input.insertAdjacentElement("afterend", button);
    });
  }

  addPasswordToggles(document);
  document.addEventListener("htmx:load", function (event) {
    var element = event.detail && event.detail.elt;
    if (element instanceof Element) addPasswordToggles(element);
  });

  // A swap that replaced the focused control (a form in the swapped section) leaves focus on
  // the body, so keyboard and screen reader users lose their place: move it to the swapped
  // content's marked heading (`data-swap-focus`, with tabindex="-1").
  document.addEventListener("htmx:afterSettle", function () {
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var heading = document.querySelector("[data-swap-focus]");
    if (heading instanceof HTMLElement) heading.focus();
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached. Check your connection and try again.");
  });
})();
