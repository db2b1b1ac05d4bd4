"""The outbox: events written in the transaction of the change they report (webhooks, later).

Knows no domain: a domain builds its events' `data` and records them here with its own
connection, so an event exists if and only if its change committed. Delivery is a worker's
job; rows start `pending`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authara_core.platform.db import Connection


@dataclass(frozen=True, slots=True)
class Event:
    """An event a domain reports: its type (e.g. `user.created`) and its `data` object."""

    type: str
    data: Mapping[str, Any]


def rfc3339(moment: datetime) -> str:
    """Format an aware time as RFC 3339 UTC with a `Z` (microseconds kept when present)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(
    event_id: str, event_type: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Return the JSON envelope a webhook delivers: id, type, created_at, data."""
    return {"id": event_id, "type": event_type, "created_at": rfc3339(now), "data": dict(data)}


async def record_event(
    conn: Connection, event_type: str, data: Mapping[str, Any], *, now: datetime
) -> str:
    """Write one pending event inside the caller's transaction; return its id."""
    event_id = str(uuid.uuid4())
    payload = json.dumps(envelope(event_id, event_type, data, now), separators=(",", ":"))
    await conn.execute(
        """
        INSERT INTO webhook_events
            (id, created_at, updated_at, event_type, payload, next_attempt_at)
        VALUES ($1, $2, $2, $3, $4::jsonb, $2)
        """,
        event_id,
        now,
        event_type,
        payload,
    )
    return event_id


async def record_in(conn: Connection, events: list[Event], *, now: datetime) -> None:
    """Record several events inside the caller's transaction, in order."""
    for event in events:
        await record_event(conn, event.type, event.data, now=now)
