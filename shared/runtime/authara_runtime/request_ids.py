"""X-Request-Id: keep a sane incoming id, otherwise make a new one."""

import os
import re
from typing import Final

# fullmatch, never `^...$` with match: `$` also matches before a final newline.
_SANE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ID_HEX_DIGITS: Final = 32  # 128 random bits, as `secrets.token_hex(16)` gives
_IDS_PER_BATCH: Final = 256


def is_sane_request_id(value: str) -> bool:
    """Tell whether an incoming id may be passed on: 1-128 of `A-Za-z0-9._-`, nothing else."""
    return _SANE.fullmatch(value) is not None


class RequestIds:
    """Keep a sane incoming X-Request-Id, otherwise make a new one.

    New ids are 128 bits from `os.urandom`, drawn 256 ids at a time: one system call per
    batch rather than per request. Build one per process (after any fork), never share one.
    """

    __slots__ = ("_batch", "_next")

    def __init__(self) -> None:
        self._batch = ""
        self._next = 0

    def __call__(self, incoming: str | None) -> str:
        """Return the request id to use for a request that came with `incoming`."""
        if incoming is not None and _SANE.fullmatch(incoming):
            return incoming
        start = self._next
        if start >= len(self._batch):
            self._batch = os.urandom(_ID_HEX_DIGITS // 2 * _IDS_PER_BATCH).hex()
            start = 0
        self._next = start + _ID_HEX_DIGITS
        return self._batch[start : start + _ID_HEX_DIGITS]
