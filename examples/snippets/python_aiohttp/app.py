"""An aiohttp app behind the Authara gateway. Run: PORT=8000 python app.py (needs aiohttp)."""

import os
from html import escape

import aiohttp
from aiohttp import web

AUTHARA_URL = os.environ.get("AUTHARA_URL", "http://127.0.0.1:3000")  # the gateway


async def index(request: web.Request) -> web.Response:
    """Serve a public page: anyone may see it."""
    return web.Response(text='Public page. <a href="/me">Who am I?</a>', content_type="text/html")


async def me(request: web.Request) -> web.Response:
    """Show who is signed in: the gateway verified the session and sent X-Authara-* headers."""
    user_id = request.headers.get("X-Authara-User-Id")
    if not user_id:  # no identity header: nobody is signed in
        raise web.HTTPSeeOther("/auth/login?return_to=/me")
    roles = [r for r in request.headers.get("X-Authara-Roles", "").split(",") if r]
    org = request.headers.get("X-Authara-Organization-Id", "none")
    org_role = request.headers.get("X-Authara-Organization-Role", "none")
    # Email and profile come from core, asked with the browser's own cookies.
    url, cookie = f"{AUTHARA_URL}/auth/api/v1/user", {"Cookie": request.headers.get("Cookie", "")}
    async with aiohttp.ClientSession() as http, http.get(url, headers=cookie) as response:
        email = (await response.json())["email"] if response.status == 200 else "?"
    csrf = request.cookies.get("authara_csrf", "")  # logout wants it back as csrf_token
    text = f"User {user_id} <{email}>, roles {roles}, organization {org} ({org_role})"
    return web.Response(
        text=f"<p>{escape(text)}</p>"
        '<form method="post" action="/auth/sessions/logout">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}"><button>Log out</button>'
        "</form>",
        content_type="text/html",
    )


if __name__ == "__main__":
    app = web.Application()
    app.add_routes([web.get("/", index), web.get("/me", me)])
    web.run_app(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
