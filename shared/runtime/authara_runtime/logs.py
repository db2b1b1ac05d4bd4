"""Logging for every Authara process: one level vocabulary (LOG_LEVEL), one line format."""

import logging
import sys
from typing import Final, TextIO

LOG_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, *, stream: TextIO | None = None) -> int:
    """Log to `stream` (stderr by default) at a LOG_LEVEL name; return the numeric level.

    Raises KeyError for a name outside LOG_LEVELS (settings parsing has refused it already).
    """
    numeric = LOG_LEVELS[level]
    logging.basicConfig(level=numeric, format=LOG_FORMAT, stream=stream or sys.stderr)
    return numeric
