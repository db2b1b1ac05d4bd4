"""Responses the gateway sends itself when an upstream fails: JSON envelope or a small page."""

from typing import Final

from aiohttp import hdrs, web

from authara_contract import headers as contract_headers
from authara_contract.errors import JSON_CONTENT_TYPE, ErrorCode, error_body
from authara_contract.routes import is_api_path

from .negotiation import quality_values

_JSON: Final = "application/json"
_HTML: Final = "text/html"
_API_ROOT: Final = "/auth/api/"

_MESSAGES: Final = {
    web.HTTPBadGateway.status_code: (
        ErrorCode.BAD_GATEWAY,
        "Bad gateway",
        "The service is unavailable. Please try again in a moment.",
    ),
    web.HTTPGatewayTimeout.status_code: (
        ErrorCode.GATEWAY_TIMEOUT,
        "Gateway timeout",
        "The service took too long to respond. Please try again in a moment.",
    ),
}
_PAGE: Final = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{status} {title}</title></head>
<body><h1>{title}</h1><p>{message}</p></body>
</html>
"""


def wants_json(request: web.BaseRequest) -> bool:
    """Tell whether the client expects the JSON error envelope rather than a page."""
    if request.path.startswith(_API_ROOT) or is_api_path(request.path):
        return True
    qualities = quality_values(request.headers.get(hdrs.ACCEPT, ""))
    json_quality = qualities.get(_JSON, 0.0)
    return json_quality > 0.0 and json_quality >= qualities.get(_HTML, 0.0)


def upstream_failure(request: web.BaseRequest, status: int, request_id: str) -> web.Response:
    """Build the 502 or 504 answer for a request the upstream could not serve."""
    code, title, message = _MESSAGES[status]
    headers = {
        contract_headers.REQUEST_ID: request_id,
        hdrs.CACHE_CONTROL: contract_headers.NO_STORE,
    }
    if wants_json(request):
        headers[hdrs.CONTENT_TYPE] = JSON_CONTENT_TYPE
        return web.Response(status=status, body=error_body(code, message), headers=headers)
    page = _PAGE.format(status=status, title=title, message=message)
    headers[hdrs.CONTENT_TYPE] = "text/html; charset=utf-8"
    return web.Response(status=status, body=page.encode(), headers=headers)
