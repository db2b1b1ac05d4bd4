"""Protected path prefixes: anonymous browsers go to the login page, other clients get 401.

Paths are compared after the normalisations an app or framework might apply on its own
(repeated slashes, `.` and `..` segments, `;` parameters, letter case), so that
`//private`, `/x/../private` or `/PRIVATE;a=b` cannot reach a protected page anonymously.
Normalising only widens what is protected; the request is still forwarded byte for byte.
"""

import posixpath
import re
from collections.abc import Iterable
from typing import Final

from aiohttp import hdrs, web

from authara_contract import headers as contract_headers
from authara_contract.errors import JSON_CONTENT_TYPE, ErrorCode, error_body
from authara_contract.return_to import with_return_to
from authara_contract.routes import LOGIN

from .negotiation import quality_values

_SLASHES: Final = re.compile(r"/{2,}")
_PARAMS: Final = re.compile(r";[^/]*")
_BROWSER_METHODS: Final = frozenset({hdrs.METH_GET, hdrs.METH_HEAD})
_MESSAGE: Final = "Sign in to continue."


class ProtectedPaths:
    """Tell which request paths need a signed-in user."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self._prefixes = tuple(_normalise(prefix) for prefix in prefixes)

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    def covers(self, path: str) -> bool:
        """Tell whether a (percent-decoded) request path falls under a protected prefix."""
        if not self._prefixes:
            return False
        normalised = _normalise(path)
        return any(
            prefix == "/" or normalised == prefix or normalised.startswith(prefix + "/")
            for prefix in self._prefixes
        )


def refuse_anonymous(
    request: web.BaseRequest, *, request_id: str, set_cookies: Iterable[str] = ()
) -> web.Response:
    """Send a browser's page request to the login page; answer anything else 401."""
    response_headers = [
        (contract_headers.REQUEST_ID, request_id),
        (hdrs.CACHE_CONTROL, "no-store"),
        (hdrs.VARY, hdrs.ACCEPT),
    ]
    response_headers.extend((hdrs.SET_COOKIE, cookie) for cookie in set_cookies)
    if _is_browser_page_request(request):
        target = request.rel_url.raw_path
        if request.rel_url.raw_query_string:
            target += "?" + request.rel_url.raw_query_string
        response_headers.append((hdrs.LOCATION, with_return_to(LOGIN, target)))
        return web.Response(status=web.HTTPSeeOther.status_code, headers=response_headers)
    response_headers.append((hdrs.CONTENT_TYPE, JSON_CONTENT_TYPE))
    return web.Response(
        status=web.HTTPUnauthorized.status_code,
        body=error_body(ErrorCode.UNAUTHORIZED, _MESSAGE),
        headers=response_headers,
    )


def _is_browser_page_request(request: web.BaseRequest) -> bool:
    if request.method not in _BROWSER_METHODS:
        return False
    return quality_values(request.headers.get(hdrs.ACCEPT, "")).get("text/html", 0.0) > 0.0


def _normalise(path: str) -> str:
    path = _PARAMS.sub("", _SLASHES.sub("/", path)).lower()
    normalised = posixpath.normpath(path) if path else "/"
    return "/" if normalised == "." else normalised
