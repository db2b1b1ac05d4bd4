"""Logging for aiohttp servers: a malformed request is the client's doing, not ours."""

import logging

from aiohttp.http_exceptions import HttpProcessingError


class BadRequestLogFilter(logging.Filter):
    """Log a malformed request as one INFO line instead of an ERROR with a traceback.

    aiohttp's server logs every unparsable request with a traceback at ERROR; a client
    sending garbage on purpose would otherwise fill the logs with alarms.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite parser errors into a one-line INFO record."""
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        reason = (exc.message or "").strip().splitlines()
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.msg, record.args = (
            "rejected a malformed request (%s): %s",
            (exc.code, reason[0] if reason else exc.__class__.__name__),
        )
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def quiet_bad_requests() -> None:
    """Install BadRequestLogFilter on aiohttp's server logger (once)."""
    server_logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, BadRequestLogFilter) for f in server_logger.filters):
        server_logger.addFilter(BadRequestLogFilter())
