"""The demo app `authara dev` puts behind the gateway: it shows who is signed in.

It learns about the user the two ways an app behind Authara does: from the identity headers
the gateway adds after verifying the access cookie (the gateway strips client-sent ones, so
they can be trusted here), and from core's `GET /auth/api/v1/user`, called server-side with
the browser's cookies, as the upstream example app does through its SDK. It never opens the
database and never sees a password. It also receives Authara's webhooks (webhooks.py) and
lists the last ones at /webhooks.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import jinja2
from aiohttp import hdrs, web
from yarl import URL

from authara_contract import cookies, headers, routes
from authara_contract.env import parse_host_port
from authara_contract.return_to import with_return_to
from authara_demo.webhooks import INBOX_KEY, PAGE_PATH, RECEIVER_PATH, WebhookInbox, receive

_LOGGER = logging.getLogger(__name__)
PROGRAM: Final = "authara-demo"
DEFAULT_BIND: Final = "127.0.0.1:8000"
DEFAULT_AUTHARA_BASE_URL: Final = "http://127.0.0.1:8080"
_CORE_TIMEOUT: Final = aiohttp.ClientTimeout(total=5)


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """Where the demo listens and where core answers server-side calls."""

    host: str
    port: int
    authara_base_url: URL
    webhook_secret: str | None = field(default=None, repr=False)  # verifies Authara's webhooks


def load_settings(environ: Mapping[str, str]) -> DemoSettings:
    """Read DEMO_BIND, AUTHARA_BASE_URL, AUTHARA_WEBHOOK_SECRET; ValueError names a bad one."""
    bind = environ.get("DEMO_BIND", DEFAULT_BIND)
    try:
        host, port = parse_host_port(bind)
    except ValueError as exc:
        raise ValueError(f"DEMO_BIND: {exc}, got {bind!r}") from None
    raw_url = environ.get("AUTHARA_BASE_URL", DEFAULT_AUTHARA_BASE_URL).strip()
    base_url = URL(raw_url)
    if base_url.scheme not in ("http", "https") or not base_url.host:
        raise ValueError(f"AUTHARA_BASE_URL: must be an http(s) URL, got {raw_url!r}")
    return DemoSettings(
        host=host,
        port=port,
        authara_base_url=base_url.with_path("/"),
        webhook_secret=environ.get("AUTHARA_WEBHOOK_SECRET") or None,
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """What the gateway's identity headers say; every field is None when absent."""

    user_id: str | None
    session_id: str | None
    roles: list[str] | None
    audience: str | None
    organization_id: str | None
    organization_role: str | None

    @classmethod
    def from_headers(cls, request_headers: Mapping[str, str]) -> Identity:
        """Read the gateway's X-Authara-* identity headers (roles comma-separated)."""
        raw_roles = request_headers.get(headers.ROLES)
        roles = None
        if raw_roles is not None:
            roles = [role.strip() for role in raw_roles.split(",") if role.strip()]
        return cls(
            user_id=request_headers.get(headers.USER_ID),
            session_id=request_headers.get(headers.SESSION_ID),
            roles=roles,
            audience=request_headers.get(headers.AUDIENCE),
            organization_id=request_headers.get(headers.ORGANIZATION_ID),
            organization_role=request_headers.get(headers.ORGANIZATION_ROLE),
        )

    def as_json(self) -> dict[str, Any]:
        """Return the /whoami body."""
        return {
            "user_id": self.user_id,
            "session_id": self.session_id,
            "roles": self.roles,
            "audience": self.audience,
            "organization_id": self.organization_id,
            "organization_role": self.organization_role,
        }


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The part of core's user object the demo shows."""

    id: str
    email: str


class AutharaClient:
    """Call core's JSON API on behalf of the browser whose cookies are forwarded."""

    def __init__(self, http: aiohttp.ClientSession, base_url: URL) -> None:
        self._http = http
        self._user_url = base_url.join(URL(routes.API_USER))

    async def current_user(self, cookie_header: str | None) -> CurrentUser | None:
        """Return the signed-in user, or None when anonymous or when core cannot tell."""
        if not cookie_header:
            return None
        request_headers = {hdrs.COOKIE: cookie_header, hdrs.ACCEPT: "application/json"}
        try:
            async with self._http.get(self._user_url, headers=request_headers) as response:
                if response.status != web.HTTPOk.status_code:
                    return None
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            _LOGGER.warning("cannot ask Authara who is signed in: %s", exc)
            return None
        if not isinstance(body, dict) or not {"id", "email"} <= body.keys():
            return None
        return CurrentUser(id=str(body["id"]), email=str(body["email"]))


CLIENT_KEY: Final = web.AppKey("authara_client", AutharaClient)
TEMPLATES_KEY: Final = web.AppKey("templates", jinja2.Environment)


def _render(request: web.Request, template: str, **context: Any) -> web.Response:
    page = (
        request.app[TEMPLATES_KEY]
        .get_template(template)
        .render(
            logout_path=routes.LOGOUT,
            csrf_token=request.cookies.get(cookies.CSRF.name, ""),
            **context,
        )
    )
    return web.Response(text=page, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    """Say who is signed in, or offer a login link."""
    user = await request.app[CLIENT_KEY].current_user(request.headers.get(hdrs.COOKIE))
    return _render(request, "index.html", user=user, login_url=with_return_to(routes.LOGIN, "/"))


async def private(request: web.Request) -> web.Response:
    """Show the user's id and email; send anonymous visitors to the login page."""
    identity = Identity.from_headers(request.headers)
    if not identity.user_id:
        raise web.HTTPSeeOther(with_return_to(routes.LOGIN, request.path_qs))
    user = await request.app[CLIENT_KEY].current_user(request.headers.get(hdrs.COOKIE))
    return _render(request, "private.html", identity=identity, user=user)


async def whoami(request: web.Request) -> web.Response:
    """Return exactly what the gateway's identity headers say, as JSON."""
    return web.json_response(Identity.from_headers(request.headers).as_json())


async def webhooks_page(request: web.Request) -> web.Response:
    """List the last webhook events Authara delivered, newest first."""
    inbox = request.app[INBOX_KEY]
    return _render(
        request,
        "webhooks.html",
        events=list(inbox.events),
        configured=inbox.configured,
        receiver_path=RECEIVER_PATH,
    )


def create_app(settings: DemoSettings) -> web.Application:
    """Build the demo application."""
    app = web.Application()
    app[TEMPLATES_KEY] = jinja2.Environment(
        loader=jinja2.PackageLoader("authara_demo", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )

    async def authara_client(app: web.Application) -> AsyncIterator[None]:
        # No cookie jar: cookies belong to the browser we forward them for, never to us.
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(), timeout=_CORE_TIMEOUT
        ) as http:
            app[CLIENT_KEY] = AutharaClient(http, settings.authara_base_url)
            yield

    app.cleanup_ctx.append(authara_client)
    app.router.add_get("/", index)
    app.router.add_get("/private", private)
    app.router.add_get("/whoami", whoami)
    app[INBOX_KEY] = WebhookInbox(settings.webhook_secret)
    app.router.add_post(RECEIVER_PATH, receive)
    app.router.add_get(PAGE_PATH, webhooks_page)
    return app


def main() -> None:
    """Serve the demo app on DEMO_BIND."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(os.environ)
    except ValueError as exc:
        print(f"{PROGRAM}: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(2)
    _LOGGER.info("demo app listening on http://%s:%d", settings.host, settings.port)
    try:
        web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)
    except OSError as exc:
        print(
            f"{PROGRAM}: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        sys.exit(1)
