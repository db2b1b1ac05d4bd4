// Authara's passkey script: add a passkey (setup and account pages) and sign in with one
// (login page: a button, and the browser's autofill offering passkeys in the email field).
// Loaded from our own origin with `defer`: no inline script, no eval, no third party.
// Uses PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON and
// credential.toJSON() where the browser has them, base64url conversion otherwise. Buttons
// stay hidden where WebAuthn is missing; pages say in <noscript> that passkeys need JavaScript.
(function () {
  "use strict";

  // An IP address cannot be a WebAuthn RP ID: on http://127.0.0.1 (a dev stack) passkeys are
  // off, as in a browser without them (use http://localhost or the real domain).
  var host = window.location.hostname;
  var ipHost = /^[0-9.]+$/.test(host) || host.indexOf(":") !== -1 || host.charAt(0) === "[";
  var supported = !!(window.PublicKeyCredential && navigator.credentials) && !ipHost;

  function toBuffer(value) {
    var text = value.replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) text += "=";
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBuffer(item.id) });
    });
  }

  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      user: Object.assign({}, json.user, { id: toBuffer(json.user.id) }),
      excludeCredentials: withIds(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBuffer(json.challenge),
      allowCredentials: withIds(json.allowCredentials),
    });
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) {
      json.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return json;
  }

  // The CSRF cookie is read at each call: a sign-in elsewhere may have renewed it.
  function csrfToken(element) {
    var match = document.cookie.match(/(?:^|;\s*)authara_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : element.getAttribute("data-csrf-token") || "";
  }

  function post(url, element, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrfToken(element),
      },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) {
            var message = data && data.error && data.error.message;
            throw new Error(message || "Something went wrong. Please try again.");
          }
          return data;
        });
    });
  }

  function say(container, message, isError) {
    var status = container && container.querySelector("[data-passkey-status]");
    if (!status) status = document.querySelector("[data-passkey-status]");
    if (!status) return;
    status.textContent = message;
    status.hidden = !message;
    status.classList.toggle("ok", !isError);
    status.setAttribute("role", isError ? "alert" : "status");
  }

  function explain(error, fallback) {
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return fallback;
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already has a passkey for your account.";
    }
    return (error && error.message) || fallback;
  }

  function platformHint() {
    var data = navigator.userAgentData;
    return data && data.platform ? String(data.platform).slice(0, 64) : undefined;
  }

  function register(button) {
    var container = button.closest("section, main") || document;
    button.disabled = true;
    say(container, "Follow your browser's instructions to create the passkey.", false);
    post(button.getAttribute("data-options-url"), button)
      .then(function (started) {
        return navigator.credentials
          .create({ publicKey: creationOptions(started.options.publicKey) })
          .then(function (credential) {
            return post(button.getAttribute("data-finish-url"), button, {
              challenge_id: started.challenge_id,
              credential: credentialJSON(credential),
              platform_hint: platformHint(),
              return_to: button.getAttribute("data-return-to") || undefined,
            });
          });
      })
      .then(function (done) {
        say(container, "Passkey added.", false);
        window.location.assign(done.return_to || "/auth/account");
      })
      .catch(function (error) {
        button.disabled = false;
        say(container, explain(error, "No passkey was added."), true);
      });
  }

  var pendingAutofill = null;
  var buttonUsed = false; // once the button is used, autofill does not start (one request at a time)

  function signIn(box, conditional) {
    var options = { mediation: conditional ? "conditional" : "optional" };
    if (conditional) {
      pendingAutofill = new AbortController();
      options.signal = pendingAutofill.signal;
    }
    return post(box.getAttribute("data-options-url"), box)
      .then(function (started) {
        options.publicKey = requestOptions(started.options.publicKey);
        return navigator.credentials.get(options).then(function (credential) {
          say(box, "Signing you in…", false);
          return post(box.getAttribute("data-finish-url"), box, {
            challenge_id: started.challenge_id,
            credential: credentialJSON(credential),
            return_to: box.getAttribute("data-return-to") || undefined,
          });
        });
      })
      .then(function (done) {
        window.location.assign(done.return_to || "/");
      });
  }

  function startAutofill(box) {
    if (typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") return;
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available || buttonUsed) return;
      // Autofill runs in the background: its failures (the button took over, the user looked
      // away, an origin that cannot be an RP ID) are not the user's doing and stay silent.
      signIn(box, true).catch(function () {});
    });
  }

  function setUp() {
    if (!supported) return;
    document.querySelectorAll("[data-passkey-register], [data-passkey-sign-in]").forEach(function (el) {
      el.hidden = false;
    });
    var box = document.querySelector("[data-passkey-login]");
    if (box) startAutofill(box);
  }

  document.addEventListener("click", function (event) {
    if (!supported) return;
    var target = event.target instanceof Element ? event.target : null;
    var add = target && target.closest("[data-passkey-register]");
    if (add) {
      event.preventDefault();
      register(add);
      return;
    }
    var button = target && target.closest("[data-passkey-sign-in]");
    if (button) {
      event.preventDefault();
      var box = button.closest("[data-passkey-login]");
      buttonUsed = true;
      if (pendingAutofill) {
        pendingAutofill.abort();
        pendingAutofill = null;
      }
      button.disabled = true;
      say(box, "Follow your browser's instructions to use your passkey.", false);
      signIn(box, false).catch(function (error) {
        button.disabled = false;
        say(box, explain(error, "Passkey sign-in was cancelled."), true);
      });
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
  document.addEventListener("htmx:afterSettle", function () {
    if (!supported) return;
    document.querySelectorAll("[data-passkey-register], [data-passkey-sign-in]").forEach(function (el) {
      el.hidden = false;
    });
  });
})();
