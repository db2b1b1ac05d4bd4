"""The user events accounts and other domains report (contract §13: `data` is the user id)."""

from __future__ import annotations

import uuid

from authara_core.platform.outbox import Event

USER_CREATED = "user.created"
USER_DELETED = "user.deleted"
USER_UPDATED = "user.updated"


def user_created(user_id: uuid.UUID) -> Event:
    """Build `user.created`."""
    return Event(USER_CREATED, {"user_id": str(user_id)})


def user_deleted(user_id: uuid.UUID) -> Event:
    """Build `user.deleted`."""
    return Event(USER_DELETED, {"user_id": str(user_id)})


def user_updated(user_id: uuid.UUID) -> Event:
    """Build `user.updated` (username, password, email or disabled state changed)."""
    return Event(USER_UPDATED, {"user_id": str(user_id)})
