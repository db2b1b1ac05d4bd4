"""One-shot messages carried across a redirect in the `authara_flash` cookie (upstream §2).

The value is base64url(JSON {"kind", "message"}); pages that show it clear it. Messages are
rendered with autoescaping like any other text.

Beyond upstream, a refused form that redirects back to its page (Post/Redirect/Get) can name
the `field` the message belongs to, the non-secret `value` that was typed there, and whether to
offer `reauth` ("sign in again"). Never put a secret in a flash: the cookie goes back to the
browser.
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
MAX_FIELD: Final = 40
MAX_VALUE: Final = 200
_KINDS: Final = frozenset({"error", "success"})


@dataclass(frozen=True, slots=True)
class Flash:
    """A message for the next page."""

    kind: Literal["error", "success"]
    message: str
    field: str | None = None  # the form field the message is about, if any
    value: str | None = None  # what was typed in that field (never a secret)
    reauth: bool = False  # offer to sign in again


def set_flash(response: web.StreamResponse, flash: Flash) -> None:
    """Attach a flash message to a (redirect) response."""
    data: dict[str, str | bool] = {"kind": flash.kind, "message": flash.message[:MAX_MESSAGE]}
    if flash.field is not None:
        data["field"] = flash.field[:MAX_FIELD]
    if flash.value is not None:
        data["value"] = flash.value[:MAX_VALUE]
    if flash.reauth:
        data["reauth"] = True
    raw = json.dumps(data)
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
    field, typed = data.get("field"), data.get("value")
    return Flash(
        kind="error" if kind == "error" else "success",
        message=message[:MAX_MESSAGE],
        field=field[:MAX_FIELD] if isinstance(field, str) and field else None,
        value=typed[:MAX_VALUE] if isinstance(typed, str) else None,
        reauth=data.get("reauth") is True,
    )
