"""The user events accounts and other domains report (contract §13: `data` is the user id)."""

from __future__ import annotations

import uuid

from authara_core.platform.outbox import Event

USER_CREATED = "user.created"
USER_DELETED = "user.deleted"


def user_created(user_id: uuid.UUID) -> Event:
    """Build `user.created`."""
    return Event(USER_CREATED, {"user_id": str(user_id)})


def user_deleted(user_id: uuid.UUID) -> Event:
    """Build `user.deleted`."""
    return Event(USER_DELETED, {"user_id": str(user_id)})
