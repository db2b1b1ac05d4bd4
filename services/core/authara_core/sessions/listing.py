"""A user's own sessions as the account page and the JSON API show them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from authara_contract import routes
from authara_core.platform.errors import InvalidRequest
from authara_core.sessions.devices import DeviceInfo
from authara_core.sessions.service import SessionView

SESSION_ID_PARAM = "sessionID"


def session_id_of(request: web.Request) -> uuid.UUID:
    """Return the `{sessionID}` of the path; 400 unless it is a UUID in its canonical form."""
    raw = request.match_info[SESSION_ID_PARAM]
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != raw.lower():  # no braces, URNs or bare hex
        raise InvalidRequest("The session id must be a UUID.")
    return parsed


def session_json(view: SessionView) -> dict[str, Any]:
    """Render a session the way Session in the OpenAPI document describes."""
    return {
        "id": str(view.id),
        "current": view.current,
        "created_at": view.created_at,
        "last_used_at": view.last_used_at,
        "expires_at": view.expires_at,
        "ip_address": view.ip_address,
        "user_agent": view.user_agent,
        "device": view.device.device,
        "os": view.device.os,
        "browser": view.device.browser,
    }


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One line of the account page's sessions section (template `sessions/_sessions.html`)."""

    id: str
    current: bool
    title: str
    device: str | None
    ip_address: str
    created: Moment
    last_used: Moment
    revoke_url: str


@dataclass(frozen=True, slots=True)
class Moment:
    """A time for people (UTC) and for machines (RFC 3339, in `<time datetime>`)."""

    text: str
    iso: str


def moment(value: datetime) -> Moment:
    """Format a time the same way wherever the page shows one."""
    utc = value.astimezone(UTC)
    return Moment(text=f"{utc.day} {utc:%b %Y, %H:%M} UTC", iso=utc.isoformat(timespec="seconds"))


def session_title(info: DeviceInfo) -> str:
    """Name a session for people: "Chrome 120 on Mac OS X 10.15", "Unknown browser"."""
    browser = info.browser or "Unknown browser"
    return f"{browser} on {info.os}" if info.os else browser


def _own_revoke_url(session_id: uuid.UUID) -> str:
    return routes.SESSION_REVOKE.format(sessionID=session_id)


def session_rows(
    views: list[SessionView], revoke_url: Callable[[uuid.UUID], str] = _own_revoke_url
) -> list[SessionRow]:
    """Turn the service's views into what a sessions list renders (`revoke_url` per session)."""
    rows = []
    for view in views:
        info = view.device
        title = session_title(info)
        rows.append(
            SessionRow(
                id=str(view.id),
                current=view.current,
                title=title,
                device=info.device,
                ip_address=view.ip_address or "Unknown",
                created=moment(view.created_at),
                last_used=moment(view.last_used_at),
                revoke_url=revoke_url(view.id),
            )
        )
    return rows
