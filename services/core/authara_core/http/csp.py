"""Widen the Content-Security-Policy for Google Identity Services, only when Google is on.

Upstream §10: with Google configured, img-src adds gstatic, connect-src and script-src add
accounts.google.com and frame-src becomes accounts.google.com. Without Google every response
keeps the strict policy the envelope middleware sets.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .middlewares import SECURITY_HEADERS

CSP_HEADER: Final = "Content-Security-Policy"
_GOOGLE_ACCOUNTS: Final = "https://accounts.google.com"
_GOOGLE_SOURCES: Final = {
    "img-src": "https://www.gstatic.com https://ssl.gstatic.com",
    "connect-src": _GOOGLE_ACCOUNTS,
    "script-src": _GOOGLE_ACCOUNTS,
}


def google_csp(base: str = SECURITY_HEADERS[CSP_HEADER]) -> str:
    """Return the policy with Google Identity Services' sources allowed."""
    directives = []
    for directive in (part.strip() for part in base.split(";")):
        name = directive.split(" ", 1)[0]
        if name == "frame-src":
            directive = f"frame-src {_GOOGLE_ACCOUNTS}"
        elif name in _GOOGLE_SOURCES:
            directive = f"{directive} {_GOOGLE_SOURCES[name]}"
        directives.append(directive)
    return "; ".join(directives)


def allow_google(app: web.Application) -> None:
    """Send the widened policy on every response of this app."""
    policy = google_csp()

    async def widen(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers[CSP_HEADER] = policy

    app.on_response_prepare.append(widen)
