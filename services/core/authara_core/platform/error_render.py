"""The one place domain errors and HTTP exceptions become responses.

JSON API paths get the envelope; pages get an HTML error page (or, for HTMX, the toast
fragment, platform/_toast.html swapped out of band into #toasts, with HX-Reswap: none and the
same status). Anything unexpected is logged with the request id and
answered as internal_error without detail.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from authara_contract import routes
from authara_contract.errors import JSON_CONTENT_TYPE, ErrorCode, error_body
from authara_core.platform.errors import AuthError, DatabaseUnavailable, Overloaded, RateLimited
from authara_core.platform.flash import Flash
from authara_core.platform.render import Renderer, is_htmx, set_retry_after
from authara_core.platform.request_id import REQUEST_ID_KEY

_LOGGER = logging.getLogger(__name__)

_HTTP_CODES: Final = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.INVALID_REQUEST,
    429: ErrorCode.RATE_LIMITED,
}
_HTTP_MESSAGES: Final = {404: "Route not found.", 413: "Request body is too large."}


def json_error(status: int, code: ErrorCode, message: str) -> web.Response:
    """Build an error envelope response."""
    return web.Response(
        status=status, body=error_body(code, message), headers={"Content-Type": JSON_CONTENT_TYPE}
    )


class ErrorRenderer:
    """Turn exceptions into JSON envelopes or HTML pages."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    def response_for(self, request: web.Request, exc: Exception) -> web.StreamResponse:
        """Map an exception a handler raised to a response; re-raise redirects (status < 400)."""
        if isinstance(exc, AuthError):
            return self._domain(request, exc)
        if isinstance(exc, web.HTTPException):
            if exc.status < 400:
                raise exc
            return self._http(request, exc)
        _LOGGER.error("unhandled error (request id %s)", request.get(REQUEST_ID_KEY), exc_info=exc)
        return self._respond(request, 500, ErrorCode.INTERNAL_ERROR, "Internal server error.")

    def _domain(self, request: web.Request, exc: AuthError) -> web.Response:
        if isinstance(exc, DatabaseUnavailable):  # the client sees 503; the operator the cause
            _LOGGER.warning(
                "database unavailable (request id %s): %r",
                request.get(REQUEST_ID_KEY),
                exc.__cause__,
            )
        html_message = exc.html_message if exc.message == exc.public_message else None
        response = self._respond(
            request, exc.status, exc.code, exc.message, html_message=html_message
        )
        if isinstance(exc, Overloaded | RateLimited):
            set_retry_after(response, exc)
        return response

    def _http(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        status = exc.status
        if routes.is_api_path(request.path) and status == 405:
            status = 404  # upstream answers wrong methods under the API as unknown routes
        code = _HTTP_CODES.get(
            status, ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.INVALID_REQUEST
        )
        message = _HTTP_MESSAGES.get(status, exc.reason)
        return self._respond(request, status, code, message)

    def _respond(
        self,
        request: web.Request,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        html_message: str | None = None,
    ) -> web.Response:
        if routes.answers_json(request.path):
            return json_error(status, code, message)
        text = html_message or message
        response = self._renderer.page(
            request,
            "platform/error.html",
            status=status,
            message=text,
            code=code.value,
            toast=Flash("error", text),
        )
        if is_htmx(request):
            response.headers["HX-Reswap"] = "none"
        return response
