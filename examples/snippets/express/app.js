// An Express app behind the Authara gateway. Run: npm ci && PORT=8000 node app.js
const express = require("express");

const AUTHARA_URL = process.env.AUTHARA_URL || "http://127.0.0.1:3000"; // the gateway
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const app = express();

app.get("/", (req, res) => res.send('Public page. <a href="/me">Who am I?</a>'));

app.get("/me", async (req, res) => {
  // The gateway verified the session and sent X-Authara-* headers; none means anonymous.
  const userId = req.get("X-Authara-User-Id");
  if (!userId) return res.redirect(303, "/auth/login?return_to=/me");
  const roles = (req.get("X-Authara-Roles") || "").split(",").filter(Boolean); // "authara:admin"
  const org = req.get("X-Authara-Organization-Id") || "none";
  const orgRole = req.get("X-Authara-Organization-Role") || "none";
  // Email and profile come from core, asked with the browser's own cookies.
  const response = await fetch(`${AUTHARA_URL}/auth/api/v1/user`, {
    headers: { Cookie: req.get("Cookie") || "" },
  });
  const email = response.ok ? (await response.json()).email : "?";
  // Logout wants the authara_csrf cookie's value back as csrf_token.
  const csrf = /(?:^|;\s*)authara_csrf=([^;]*)/.exec(req.get("Cookie") || "")?.[1] || "";
  const text = `User ${userId} <${email}>, roles [${roles}], organization ${org} (${orgRole})`;
  res.send(
    `<p>${escape(text)}</p><form method="post" action="/auth/sessions/logout">` +
      `<input type="hidden" name="csrf_token" value="${escape(csrf)}">` +
      `<button>Log out</button></form>`,
  );
});

app.listen(Number(process.env.PORT || 8000), "127.0.0.1");
