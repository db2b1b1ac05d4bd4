r"""Protected path prefixes: anonymous browsers go to the login page, other clients get 401.

The gateway forwards the path byte for byte, but the app behind it may read that path
differently from the gateway: decode it twice, map `\` to `/`, drop `;`, `:` or `?`
suffixes, trim trailing dots and blanks (as Windows does), fold case, resolve `..` or leave
it alone. So a path counts as protected when it falls under a protected prefix in *any* of
those readings: `/private.`, `/PRIVATE`, `/private%20`, `/private\x`, `//private`,
`/x/%2e%2e/private`, `/private;a=b` and `/private%2F..%2F` are all protected. Normalising
only widens what is protected, never what is forwarded. Unicode lookalikes (`/%EF%BD%90rivate`,
a fullwidth p) are left alone: an app does not route them to `/private`.

Paths that decode to a control character (`%00`, `%09`, `%1f`, `%7f`) have no honest
reading at all (C strings end at NUL, many trims drop tabs): the gateway refuses them with
400 whatever their prefix, before any routing.
"""

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote

from aiohttp import hdrs, web

from authara_contract import headers as contract_headers
from authara_contract.errors import JSON_CONTENT_TYPE, ErrorCode, error_body
from authara_contract.return_to import with_return_to
from authara_contract.routes import LOGIN

from .negotiation import quality_values

_SEPARATORS: Final = re.compile(r"[/\\]+")
# What ends a segment for some reader: a control character (C strings), a path parameter
# (`;`, Java servlets), an NTFS stream (`:`), or a query/fragment once decoded again.
_SEGMENT_END: Final = re.compile(r"[\x00-\x1f\x7f;:?#]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
# Decoding stops here; a path encoded more often than that reads as garbage to any app.
_MAX_DECODES: Final = 3
_DOT_SEGMENTS: Final = frozenset({".", ".."})
_BROWSER_METHODS: Final = frozenset({hdrs.METH_GET, hdrs.METH_HEAD})
_MESSAGE: Final = "Sign in to continue."
_BAD_PATH: Final = "The request path contains a control character."


class ProtectedPaths:
    """Tell which request paths need a signed-in user."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self._prefixes = tuple(readings(prefix)[0] for prefix in prefixes)

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    def covers(self, path: str) -> bool:
        """Tell whether a (percent-decoded) request path falls under a protected prefix."""
        if not self._prefixes:
            return False
        return any(
            prefix == "/" or reading == prefix or reading.startswith(prefix + "/")
            for reading in readings(path)
            for prefix in self._prefixes
        )


def readings(path: str) -> tuple[str, str]:
    """Return the path as an app might read it: with `..` resolved, and with `..` kept."""
    segments = [_segment(raw) for raw in _SEPARATORS.split(_decode(path))]
    literal = [segment for segment in segments if segment and segment != "."]
    resolved: list[str] = []
    for segment in literal:
        if segment != "..":
            resolved.append(segment)
        elif resolved:
            resolved.pop()
    return "/" + "/".join(resolved), "/" + "/".join(literal)


def has_control_character(request: web.BaseRequest) -> bool:
    """Tell whether the request path decodes to a control character (only `%XX` can)."""
    return "%" in request.rel_url.raw_path and _CONTROL.search(request.path) is not None


def refuse_control_characters(request_id: str) -> web.Response:
    """Answer a request whose path decodes to a control character: 400 envelope."""
    return web.Response(
        status=web.HTTPBadRequest.status_code,
        body=error_body(ErrorCode.INVALID_REQUEST, _BAD_PATH),
        headers={
            contract_headers.REQUEST_ID: request_id,
            hdrs.CACHE_CONTROL: contract_headers.NO_STORE,
            hdrs.CONTENT_TYPE: JSON_CONTENT_TYPE,
        },
    )


def refuse_anonymous(
    request: web.BaseRequest, *, request_id: str, set_cookies: Iterable[str] = ()
) -> web.Response:
    """Send a browser's page request to the login page; answer anything else 401."""
    response_headers = [
        (contract_headers.REQUEST_ID, request_id),
        (hdrs.CACHE_CONTROL, contract_headers.NO_STORE),
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


def _decode(path: str) -> str:
    for _ in range(_MAX_DECODES):
        if "%" not in path:
            break
        path = unquote(path, errors="replace")
    return path


def _segment(raw: str) -> str:
    end = _SEGMENT_END.search(raw)
    segment = (raw[: end.start()] if end else raw).strip()
    if segment not in _DOT_SEGMENTS:
        # Windows drops trailing dots and blanks: `private. .` opens `private`.
        segment = segment.rstrip(". ")
    return segment.casefold()
