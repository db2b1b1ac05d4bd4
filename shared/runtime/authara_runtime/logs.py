"""Logging for every Authara process: one level vocabulary (LOG_LEVEL), two line formats.

LOG_FORMAT=text is the readable `time LEVEL logger: message` line for development;
LOG_FORMAT=json is one JSON object per line (time, level, logger, message and, for an
exception, its traceback), what the images use so a log pipeline needs no parsing rules.
Access lines are written by authara_runtime.access_log in the same two shapes.
"""

import json
import logging
import sys
import time
from typing import Final, TextIO

LOG_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
LOG_FORMATS: Final = ("json", "text")
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's JSON line (without the newline)."""
        entry = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, *, stream: TextIO | None = None, fmt: str = "text") -> int:
    """Log to `stream` (stderr by default) at a LOG_LEVEL name; return the numeric level.

    Raises KeyError for a name outside LOG_LEVELS (settings parsing has refused it already).
    """
    numeric = LOG_LEVELS[level]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=numeric, handlers=[handler])
    return numeric


def _iso(created: float) -> str:
    second = int(created)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{stamp}.{int((created - second) * 1000):03d}Z"
