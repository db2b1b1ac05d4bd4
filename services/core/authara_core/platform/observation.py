"""What core records for each request: an access line and the metrics (platform.metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Final

from aiohttp import web

from authara_contract import cookies
from authara_core.platform.cookies import read_cookie
from authara_core.platform.metrics import CoreMetrics
from authara_core.platform.request_id import HANDLED_ERROR_KEY
from authara_runtime.dispatch import route_template
from authara_runtime.observe import RequestObserver

UserOf = Callable[[str], str | None]
"""The user id an access token names, if it is already known (verified), else None."""
UNMATCHED: Final = "(unmatched)"


class CoreRecorder:
    """Record a finished core request: access line, HTTP metrics and auth outcomes.

    `plain_routes` (the app's plain route paths, set once the router is frozen) tells the
    direct dispatch's requests, which carry no match info, from unmatched ones.
    """

    def __init__(
        self, observe: RequestObserver, metrics: CoreMetrics | None, user_of: UserOf
    ) -> None:
        self._observe = observe
        self._metrics = metrics
        self._user_of = user_of
        self.plain_routes: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        """Tell whether anything is recorded (the envelope skips the recorder otherwise)."""
        return self._observe.enabled

    def learn_routes(self, paths: Iterable[str]) -> None:
        """Take the app's plain route paths (once the router is frozen)."""
        self.plain_routes = frozenset(paths)

    def record(
        self,
        request: web.Request,
        request_id: str,
        status: int,
        started: float,
        error: Exception | None,
    ) -> None:
        """Record one request (see RequestRecorder)."""
        route = route_template(request, self.plain_routes) or UNMATCHED
        method = request.method
        token = read_cookie(request, cookies.ACCESS)
        self._observe(
            request_id=request_id,
            method=method,
            route=route,
            status=status,
            duration_s=time.perf_counter() - started,
            user_id=self._user_of(token) if token else None,
        )
        if self._metrics is not None:
            handled = error if error is not None else request.get(HANDLED_ERROR_KEY)
            self._metrics.observe_auth(method, route, status, handled)

    def flush(self) -> None:
        """Write buffered access lines (at shutdown)."""
        self._observe.flush()
