"""The admin audit log's writer: `record(conn, AuditEvent(...), now=...)`, in a transaction.

Any domain may import this module (it is public, like `accounts/users.py`): an event is written
with the connection of the transaction that makes the change, so it exists if and only if the
change committed. Readers (the audit log page, retention cleanup) live with the admin console.

Who acted: `actor_user_id` for a signed-in operator (`Operator.audit(...)` in admin/guard.py fills
it with the request's IP, User-Agent and request id), or `actor_label` for an actor that is not
a user (`CLI_ACTOR` for `authara-core admin ...`, `SYSTEM_ACTOR` for what the server detects,
`ANONYMOUS_ACTOR` for a caller not signed in). Both may be set (a label such as an email kept
for the record); at least one should be.

Security events come from other domains in the transaction of their change: a refresh-token
replay's revocation (sessions), a completed password reset and email change (challenges), a
password change (accounts self-service); repeated failed logins (accounts) have no change of
their own and are written in a transaction of their own, once per email and window.

Actions are dotted names; upstream's (contract §17) are kept where they exist, in `Action`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from authara_core.platform.db import Connection

CLI_ACTOR: Final = "cli"
SYSTEM_ACTOR: Final = "system"  # the server itself (a detection, not anyone's request)
ANONYMOUS_ACTOR: Final = "anonymous"  # a caller not signed in (failed logins)
USER_AGENT_MAX: Final = 512  # the column's length; longer values are cut, never refused
IP_MAX: Final = 64
REQUEST_ID_MAX: Final = 128
ACTION_MAX: Final = 64


class Action(StrEnum):
    """The actions written so far; add yours here (upstream's names where upstream has one)."""

    ADMIN_GRANTED = "user.admin_granted"  # metadata {"role": "admin"} (upstream's name)
    ADMIN_REVOKED = "user.admin_revoked"  # metadata {"role": "admin"} (upstream's name)
    ROLE_GRANTED = "user.role_granted"  # auditor or monitor: metadata {"role": name}
    ROLE_REVOKED = "user.role_revoked"  # auditor or monitor: metadata {"role": name}
    PASSWORD_SET = "user.password_set"  # metadata {"sessions_ended": n}  # noqa: S105 (a name)
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    SESSION_REVOKED = "user.session_revoked"
    SESSIONS_REVOKED = "user.sessions_revoked"
    PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # noqa: S105 (ours: a reset mail)
    ALLOWLIST_EMAIL_ADDED = "allowlist.email_added"
    ALLOWLIST_EMAIL_REMOVED = "allowlist.email_removed"
    EMAIL_JOB_RETRIED = "email_job.retried"  # metadata {"id", "attempts", "what": template}
    WEBHOOK_EVENT_RETRIED = "webhook_event.retried"  # metadata {"id", "attempts", "what": type}
    # Security events, written by the domains where they happen (actor: the user, `system`
    # or `anonymous`):
    SESSION_REUSE_DETECTED = "session.reuse_detected"  # metadata {"session_id": id}
    PASSWORD_RESET = "user.password_reset"  # noqa: S105 (a name); {"sessions_ended": n}
    PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 (a name); {"via", "sessions_ended"}
    EMAIL_CHANGED = "user.email_changed"  # metadata {"old_email": ..., "new_email": ...}
    LOGIN_FAILURES = "security.login_failures"  # metadata {"failures": n, "window_seconds": s}
    # metadata {"passkey_id", "stored_sign_count", "received_sign_count"}
    PASSKEY_CLONE_DETECTED = "security.passkey_clone_detected"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the audit log; `action` is an `Action` (or any dotted name up to 64 chars)."""

    action: str
    actor_user_id: uuid.UUID | None = None
    actor_label: str | None = None
    target_user_id: uuid.UUID | None = None
    target_email: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts and from where; `event` makes the AuditEvents of what they do.

    `CLI` is the command line; admin/guard.py's `Operator.actor` is a console user with the
    request's IP, User-Agent and request id.
    """

    user_id: uuid.UUID | None = None
    label: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def event(
        self,
        action: str,
        *,
        target_user_id: uuid.UUID | None = None,
        target_email: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Describe `action` done by this actor to the target."""
        return AuditEvent(
            action=action,
            actor_user_id=self.user_id,
            actor_label=self.label,
            target_user_id=target_user_id,
            target_email=target_email,
            metadata=metadata or {},
            ip=self.ip,
            user_agent=self.user_agent,
            request_id=self.request_id,
        )


CLI: Final = Actor(label=CLI_ACTOR)
SYSTEM: Final = Actor(label=SYSTEM_ACTOR)


def role_action(role: str, *, granted: bool) -> Action:
    """Name a role change: upstream's admin names for admin, ours for auditor and monitor."""
    if role == "admin":
        return Action.ADMIN_GRANTED if granted else Action.ADMIN_REVOKED
    return Action.ROLE_GRANTED if granted else Action.ROLE_REVOKED


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


async def record(conn: Connection, event: AuditEvent, *, now: datetime) -> uuid.UUID:
    """Write `event` inside the caller's transaction (never commits); return its id.

    Over-long User-Agent, IP and request id values are truncated to their columns
    (ARCHITECTURE §7.12: a long header must not fail the action it describes).
    """
    if not event.action or len(event.action) > ACTION_MAX:
        raise ValueError(f"audit action must be 1 to {ACTION_MAX} characters: {event.action!r}")
    event_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO admin_audit_events
            (id, created_at, actor_user_id, actor_label, action, target_user_id, target_email,
             metadata, ip, user_agent, request_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11)
        """,
        event_id,
        now,
        event.actor_user_id,
        event.actor_label,
        str(event.action),
        event.target_user_id,
        event.target_email,
        json.dumps(dict(event.metadata), separators=(",", ":")),
        _cut(event.ip, IP_MAX),
        _cut(event.user_agent, USER_AGENT_MAX),
        _cut(event.request_id, REQUEST_ID_MAX),
    )
    return event_id
