"""Access-token revocation in Redis (contract §5.6): key names, values, and the check.

Core writes these keys when a session ends early (logout, self-service or admin revocation,
refresh-token reuse, password reset or change, disabling, role revocation) and checks them
when it validates an access token; the gateway checks them before it hands the app an
identity. Keys, as upstream:

- `authara:access-token:revoked:token:<sha256 hex of the JWT>` = `1`, TTL = the token's
  remaining life;
- `...:session:<sid>`, `...:user:<sub>`, `...:membership:<sub>:<org_id>` = the cutoff in Unix
  **nanoseconds**, TTL = the access-token TTL. A token issued at or before a cutoff is revoked
  (`iat` has second precision, so one issued in the cutoff's second is revoked too: upstream's
  quirk, kept).

Beyond upstream: every write is also published on `CHANNEL` as one `Revocation` message, so a
gateway can keep the revocations of the last access-token lifetime in memory and check them
without a Redis round trip per request.
"""

import hashlib
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .tokens import AccessClaims

KEY_PREFIX: Final = "authara:access-token:revoked:"
CHANNEL: Final = "authara:access-token:revoked"
TOKEN_MARK: Final = "1"  # noqa: S105 - a marker value, not a secret


def token_key(token: str) -> str:
    """Return the key that marks this one access token (the compact JWT) revoked."""
    return f"{KEY_PREFIX}token:{hashlib.sha256(token.encode()).hexdigest()}"


def session_key(session_id: uuid.UUID) -> str:
    """Return the key holding the cutoff for one session's access tokens."""
    return f"{KEY_PREFIX}session:{session_id}"


def user_key(user_id: uuid.UUID) -> str:
    """Return the key holding the cutoff for all of a user's access tokens."""
    return f"{KEY_PREFIX}user:{user_id}"


def membership_key(user_id: uuid.UUID, organization_id: uuid.UUID) -> str:
    """Return the key holding the cutoff for a user's tokens bound to one organization."""
    return f"{KEY_PREFIX}membership:{user_id}:{organization_id}"


def keys_for(token: str, claims: AccessClaims) -> tuple[str, str, str, str]:
    """Return the four keys one validation reads (one MGET), in the order `is_revoked` expects."""
    return (
        token_key(token),
        session_key(claims.session_id),
        user_key(claims.user_id),
        membership_key(claims.user_id, claims.organization_id),
    )


def nanoseconds(moment: datetime) -> int:
    """Return a moment as Unix nanoseconds (the cutoff values' unit)."""
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def is_revoked(claims: AccessClaims, values: Sequence[bytes | str | None]) -> bool:
    """Tell whether the MGET values of `keys_for` revoke a token with these claims.

    The token key revokes by being present; a cutoff revokes a token issued at or before it.
    A value that is not a number (written by something else) revokes: fail closed.
    """
    token_mark, *cutoffs = values
    if token_mark is not None:
        return True
    issued = nanoseconds(claims.issued_at)
    for raw in cutoffs:
        if raw is None:
            continue
        try:
            cutoff = int(raw)
        except ValueError:
            return True
        if issued <= cutoff:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Revocation:
    """One key to write: its value and how long it must live (milliseconds, at least 1)."""

    key: str
    value: str
    ttl_ms: int

    @classmethod
    def token(cls, token: str, expires_at: datetime, now: datetime) -> "Revocation | None":
        """Revoke one access token for its remaining life; None when it has already expired."""
        remaining = (expires_at - now).total_seconds()
        if remaining <= 0:
            return None
        return cls(token_key(token), TOKEN_MARK, max(1, math.ceil(remaining * 1000)))

    @classmethod
    def cutoff(cls, key: str, now: datetime, access_ttl_seconds: float) -> "Revocation":
        """Revoke every token under `key` issued up to `now`, for one access-token lifetime."""
        return cls(key, str(nanoseconds(now)), max(1, math.ceil(access_ttl_seconds * 1000)))

    def message(self) -> str:
        """Encode this revocation for `CHANNEL`."""
        return json.dumps({"key": self.key, "value": self.value, "ttl_ms": self.ttl_ms})

    @classmethod
    def from_message(cls, raw: bytes | str) -> "Revocation | None":
        """Decode a `CHANNEL` message; None when it is not one of ours."""
        try:
            data = json.loads(raw)
            key, value, ttl_ms = data["key"], data["value"], data["ttl_ms"]
        except (ValueError, TypeError, KeyError):
            return None
        valid = (
            isinstance(key, str)
            and key.startswith(KEY_PREFIX)
            and isinstance(value, str)
            and isinstance(ttl_ms, int)
            and not isinstance(ttl_ms, bool)
            and ttl_ms > 0
        )
        return cls(key, value, ttl_ms) if valid else None
