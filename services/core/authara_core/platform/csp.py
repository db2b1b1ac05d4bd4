"""Widen the Content-Security-Policy for Google Identity Services and a brand logo's origin.

Upstream §10: with Google configured, img-src adds gstatic, connect-src and script-src add
accounts.google.com and frame-src becomes accounts.google.com, on every response. Without
Google every response keeps the strict policy. A logo at an absolute URL (AUTHARA_BRAND_LOGO_URL)
adds its origin, and only that, to img-src.
"""

from __future__ import annotations

from typing import Final

from authara_core.platform.envelope import CSP_HEADER, SECURITY_HEADERS

HSTS_HEADER: Final = "Strict-Transport-Security"
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


def with_image_source(policy: str, origin: str) -> str:
    """Return the policy with `origin` added to img-src."""
    return "; ".join(
        f"{directive} {origin}" if directive.split(" ", 1)[0] == "img-src" else directive
        for directive in (part.strip() for part in policy.split(";"))
    )


def security_headers(
    *, google: bool, hsts: str | None = None, logo_origin: str | None = None
) -> dict[str, str]:
    """Return the headers every core response carries, the policy widened for Google.

    `hsts` is the Strict-Transport-Security value (settings.hsts: prod behind https only;
    upstream sends none, leaving it to the TLS terminator). `logo_origin` is the brand logo's
    origin when it is not this one.
    """
    result = dict(SECURITY_HEADERS)
    if google:
        result[CSP_HEADER] = google_csp()
    if logo_origin:
        result[CSP_HEADER] = with_image_source(result[CSP_HEADER], logo_origin)
    if hsts:
        result[HSTS_HEADER] = hsts
    return result
