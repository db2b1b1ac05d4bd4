"""The outbox: events written in the transaction of the change they report (webhooks).

Knows no domain: a domain builds its events' `data` and records them here with its own
connection, through the Outbox it was given, so an event exists if and only if its change
committed and webhooks want its type. Delivery is the webhook workers' job; rows start `pending`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping
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


class Outbox:
    """Writes events in the caller's transaction: only the types the webhooks deliver.

    Built once from the settings (`WebhookSettings.published_events`: none while webhooks
    are off, else AUTHARA_WEBHOOK_ENABLED_EVENTS) and handed to every service that reports
    events, so the filter is applied at publish time and an unwanted event costs nothing.
    """

    __slots__ = ("_types",)

    def __init__(self, types: Collection[str]) -> None:
        self._types = frozenset(types)

    def wants(self, event_type: str) -> bool:
        """Tell whether events of this type are recorded."""
        return event_type in self._types

    async def record_in(self, conn: Connection, events: list[Event], *, now: datetime) -> list[str]:
        """Record the wanted events inside the caller's transaction, in order; return their ids."""
        rows = []
        for event in events:
            if event.type in self._types:
                event_id = str(uuid.uuid4())
                body = json.dumps(
                    envelope(event_id, event.type, event.data, now), separators=(",", ":")
                )
                rows.append((event_id, now, event.type, body))
        if rows:
            await conn.executemany(
                """
                INSERT INTO webhook_events
                    (id, created_at, updated_at, event_type, payload, next_attempt_at)
                VALUES ($1, $2, $2, $3, $4::jsonb, $2)
                """,
                rows,
            )
        return [row[0] for row in rows]
