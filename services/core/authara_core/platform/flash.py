"""One-shot messages carried across a redirect in the `authara_flash` cookie (upstream §2).

The value is base64url(JSON {"kind", "message"}); pages that show it clear it. Messages are
rendered with autoescaping like any other text.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Final, Literal

from aiohttp import web

from authara_contract import cookies
from authara_core.platform.cookies import read_cookie

MAX_MESSAGE: Final = 300
_KINDS: Final = frozenset({"error", "success"})


@dataclass(frozen=True, slots=True)
class Flash:
    """A message for the next page."""

    kind: Literal["error", "success"]
    message: str


def set_flash(response: web.StreamResponse, flash: Flash) -> None:
    """Attach a flash message to a (redirect) response."""
    raw = json.dumps({"kind": flash.kind, "message": flash.message[:MAX_MESSAGE]})
    value = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()
    spec = cookies.FLASH
    response.set_cookie(
        spec.name,
        value,
        max_age=spec.max_age,
        path=spec.path,
        httponly=spec.http_only,
        samesite=spec.same_site,
    )


def read_flash(request: web.Request) -> Flash | None:
    """Return the flash message the request carries, if any."""
    value = read_cookie(request, cookies.FLASH)
    return None if value is None else parse_flash(value)


def clear_flash(request: web.Request, response: web.StreamResponse) -> None:
    """Expire the flash cookie once a page has shown it."""
    if read_cookie(request, cookies.FLASH) is not None:
        spec = cookies.FLASH
        response.del_cookie(
            spec.name, path=spec.path, httponly=spec.http_only, samesite=spec.same_site
        )


def parse_flash(value: str) -> Flash | None:
    """Decode a flash cookie value; anything malformed is ignored."""
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    kind, message = data.get("kind"), data.get("message")
    if kind not in _KINDS or not isinstance(message, str) or not message:
        return None
    return Flash(kind="error" if kind == "error" else "success", message=message[:MAX_MESSAGE])
