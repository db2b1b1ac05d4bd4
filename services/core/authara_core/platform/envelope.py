"""The one middleware every core request passes: request id, CSRF, error mapping, headers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler

from authara_contract import headers
from authara_core.platform.csrf import SAFE_METHODS, CsrfGuard, csrf_required
from authara_core.platform.error_render import ErrorRenderer
from authara_core.platform.request_id import REQUEST_ID_KEY
from authara_runtime.request_ids import RequestIds

CSP_HEADER: Final = "Content-Security-Policy"
# Upstream §10; with Google sign-in configured the policy is widened (csp.security_headers).
SECURITY_HEADERS: Final = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    CSP_HEADER: (
        "default-src 'self'; base-uri 'self'; object-src 'none'; frame-ancestors 'none'; "
        "form-action 'self'; font-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'"
    ),
}


class RequestRecorder(Protocol):
    """Told about every finished request (access log, metrics): see platform.observation."""

    def record(
        self,
        request: web.Request,
        request_id: str,
        status: int,
        started: float,
        error: Exception | None,
    ) -> None:
        """Record one request answered with `status` (`started` from time.perf_counter)."""
        ...


class RequestEnvelope:
    """Wrap every request: give it an id, check CSRF, map errors, add the security headers.

    One middleware rather than three: each layer costs a coroutine per request on the
    hottest paths (GET /user, token refresh). Error mapping itself lives in ErrorRenderer.
    """

    def __init__(
        self,
        errors: ErrorRenderer,
        csrf: CsrfGuard,
        security_headers: Mapping[str, str],
        observer: RequestRecorder | None = None,
    ) -> None:
        self._observer = observer
        self._errors = errors
        self._csrf = csrf
        self._security_headers = dict(security_headers)
        # Built with the app, so once per process (workers build their own after the fork).
        self._request_ids = RequestIds()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Run the request through CSRF and its handler; every outcome gets the headers."""
        request_id = self._request_ids(request.headers.get(headers.REQUEST_ID))
        request[REQUEST_ID_KEY] = request_id
        observer = self._observer
        started = time.perf_counter() if observer is not None else 0.0
        error: Exception | None = None
        try:
            method = request.method
            if method not in SAFE_METHODS and csrf_required(method, request.path):
                await self._csrf.check(request)
            response = await handler(request)
        except Exception as exc:  # ErrorRenderer logs what it does not know
            error = exc
            response = self._errors.response_for(request, exc)
        response_headers = response.headers
        response_headers[headers.REQUEST_ID] = request_id
        response_headers.extend(self._security_headers)
        if observer is not None:
            observer.record(request, request_id, response.status, started, error)
        return response
