"""One access-log line per request, written without going through `logging`.

A logging.Logger call costs a LogRecord, a formatter and a locked handler per line: measured,
that took 17.7% of the gateway's throughput. Here a line is one %-format of a pre-built
template, appended to a buffer that is written to the file descriptor at most 0.1 s later
(FLUSH_DELAY_S) or once 512 lines wait: a system call per line would cost the gateway more
than the formatting. `flush()` at shutdown writes the rest; a process killed with SIGKILL
loses at most the last 0.1 s of lines.

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
FLUSH_DELAY_S: Final = 0.1  # a line waits at most this long (or for 512 more) to be written
_FLUSH_LINES: Final = 512  # a burst longer than this is written in several system calls
_MAX_FIELDS: Final = 1024


class AccessLog:
    """Format access lines and write them to a file descriptor in batches.

    Build one per process (after any fork). `flush()` writes what is buffered; it runs by
    itself FLUSH_DELAY_S after a line is buffered, and must run at shutdown.
    """

    __slots__ = (
        "_buffer",
        "_fd",
        "_fields",
        "_json",
        "_logger",
        "_prefix",
        "_scheduled",
        "_second",
    )

    def __init__(self, fd: int, *, json: bool, logger: str) -> None:
        self._fd = fd
        self._json = json
        self._logger = logger
        self._buffer: list[str] = []
        self._scheduled = False
        self._second = -1
        self._prefix = ""
        # Routes and methods seen, each mapped to itself or to its stand-in (a few dozen).
        self._fields: dict[str, str] = {}

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
        return self._format(request_id, method, route, status, duration_s, user_id, now)

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
        """Buffer one line; it reaches the descriptor within FLUSH_DELAY_S."""
        self.append(request_id, method, route, status, duration_s, user_id)

    def append(
        self,
        request_id: str,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        user_id: str | None,
        /,
    ) -> None:
        """Do what `write` does, with positional arguments (the per-request path)."""
        buffer = self._buffer
        buffer.append(
            self._format(request_id, method, route, status, duration_s, user_id, time.time())
        )
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_later(FLUSH_DELAY_S, self.flush)
            except RuntimeError:  # no loop (a test or a tool): write at once
                self.flush()
        elif len(buffer) >= _FLUSH_LINES:
            self.flush()

    def _format(
        self,
        request_id: str,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        user_id: str | None,
        now: float,
    ) -> str:
        fields = self._fields
        safe_route = fields.get(route)
        if safe_route is None:
            safe_route = self._checked(route)
        safe_method = fields.get(method)
        if safe_method is None:
            safe_method = self._checked(method)
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        stamp = f"{self._prefix}.{int((now - second) * 1000):03d}Z"
        if self._json:
            return _JSON_LINE % (
                stamp,
                self._logger,
                request_id,
                safe_method,
                safe_route,
                status,
                duration_s * 1000.0,
                "null" if user_id is None else f'"{user_id}"',
            )
        return _TEXT_LINE % (
            stamp,
            self._logger,
            safe_method,
            safe_route,
            status,
            duration_s * 1000.0,
            request_id,
            user_id or "-",
        )

    def _checked(self, value: str) -> str:
        """Return `value` if it is printable as it is, else a stand-in; remember the answer."""
        safe = value if _SAFE_FIELD.fullmatch(value) else "(unprintable)"
        if len(self._fields) < _MAX_FIELDS:
            self._fields[value] = safe
        return safe

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


def access_log_for(log_level: str, log_format: str, logger: str, fd: int = 2) -> AccessLog | None:
    """Return the access log for LOG_LEVEL and LOG_FORMAT: on at info and debug, else None."""
    if log_level not in ("debug", "info"):
        return None
    return AccessLog(fd, json=log_format == "json", logger=logger)
