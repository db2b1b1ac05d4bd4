"""Immediate access-token revocation through Redis (contract §5.6), when it is configured.

Services call the Revoker after their transaction commits: it writes the contract's keys
(`SET key value PX ttl`) and publishes each on the contract's channel, in one round trip.
The database is the truth; Redis only shortens how long an access token outlives its
session, so a failed write is logged and counted and never fails the user's request.

Checks read the four keys of a token in one MGET. While Redis cannot answer, admin-audience
tokens are refused (503: an admin console must not act on a revoked session) and
app-audience tokens are accepted as before Redis existed (logged once per outage, counted):
their lifetime is the access-token TTL either way, and an outage of the cache must not sign
out every user of every app.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

import redis
from redis.asyncio import Redis

from authara_contract.revocation import (
    CHANNEL,
    Revocation,
    is_revoked,
    keys_for,
    membership_key,
    session_key,
    user_key,
)
from authara_contract.tokens import AccessClaims
from authara_core.platform.clock import Clock
from authara_core.platform.errors import RevocationUnavailable

_LOGGER = logging.getLogger(__name__)

# Check outcomes, as counted in RevocationStats.checks.
VALID: Final = "valid"
REVOKED: Final = "revoked"
FAILED_OPEN: Final = "failed_open"
FAILED_CLOSED: Final = "failed_closed"
PROBE_INTERVAL_S: Final = 1.0
"""While Redis is failing, at most one check a second asks it; the others apply the policy."""
# Write outcomes, as counted in RevocationStats.writes (one per key).
WRITTEN: Final = "written"
WRITE_FAILED: Final = "failed"


@dataclass(slots=True)
class RevocationStats:
    """What the revoker did since the process started, for metrics."""

    checks: Counter[str] = field(default_factory=Counter)
    """Token checks by outcome: valid, revoked, failed_open, failed_closed."""
    writes: Counter[str] = field(default_factory=Counter)
    """Keys written (or not) by outcome: written, failed."""


class Revoker:
    """Write and check revocations in Redis; without a client it does nothing at all."""

    def __init__(
        self,
        client: Redis | None,
        *,
        clock: Clock,
        access_ttl: timedelta,
        stats: RevocationStats | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._clock = clock
        self._access_ttl_s = access_ttl.total_seconds()
        self.stats = stats or RevocationStats()
        self._monotonic = monotonic
        self._check_failing = False
        self._next_probe = 0.0

    @classmethod
    def disabled(cls, clock: Clock) -> Revoker:
        """Return a revoker for the noop cache provider (tokens live until they expire)."""
        return cls(None, clock=clock, access_ttl=timedelta(0))

    @property
    def enabled(self) -> bool:
        """Tell whether revocations go to Redis."""
        return self._client is not None

    async def sessions(self, session_ids: Iterable[uuid.UUID]) -> None:
        """Revoke every access token issued so far for these sessions."""
        if self._client is not None:
            await self._write([self._cutoff(session_key(sid)) for sid in session_ids])

    async def user(self, user_id: uuid.UUID) -> None:
        """Revoke every access token issued so far to this user."""
        if self._client is not None:
            await self._write([self._cutoff(user_key(user_id))])

    async def membership(self, user_id: uuid.UUID, organization_id: uuid.UUID) -> None:
        """Revoke every access token issued so far to this user in this organization."""
        if self._client is not None:
            await self._write([self._cutoff(membership_key(user_id, organization_id))])

    async def logout(
        self,
        token: str | None,
        claims: AccessClaims | None,
        session_ids: Iterable[uuid.UUID],
    ) -> None:
        """Revoke the access token presented at logout and its session's tokens (upstream §5.3)."""
        if self._client is None:
            return
        now = self._clock.now()
        found: list[Revocation] = []
        if token and claims is not None:
            mark = Revocation.token(token, claims.expires_at, now)
            if mark is not None:
                found.append(mark)
        found.extend(self._cutoff(session_key(sid)) for sid in session_ids)
        await self._write(found)

    def _cutoff(self, key: str) -> Revocation:
        return Revocation.cutoff(key, self._clock.now(), self._access_ttl_s)

    async def _write(self, revocations: Sequence[Revocation]) -> None:
        assert self._client is not None  # noqa: S101 - callers check enabled
        if not revocations:
            return
        pipe = self._client.pipeline(transaction=False)
        for revocation in revocations:
            pipe.set(revocation.key, revocation.value, px=revocation.ttl_ms)
            pipe.publish(CHANNEL, revocation.message())
        try:
            await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            self.stats.writes[WRITE_FAILED] += len(revocations)
            _LOGGER.warning(
                "revocation: could not write %d key(s) to Redis (%s); the sessions are revoked "
                "in the database, their access tokens live until they expire",
                len(revocations),
                type(exc).__name__,
            )
        else:
            self.stats.writes[WRITTEN] += len(revocations)

    async def is_revoked(self, token: str, claims: AccessClaims, *, fail_closed: bool) -> bool:
        """Tell whether a verified token was revoked (one MGET); False when disabled.

        Redis unavailable: raise RevocationUnavailable when `fail_closed`, else answer False.
        While it fails, only one check a second asks it (a stalled Redis would otherwise cost
        every request its socket timeout); the others get the same answer at once.
        """
        client = self._client
        if client is None:
            return False
        if self._check_failing:
            now = self._monotonic()
            if now < self._next_probe:
                return self._unavailable(None, fail_closed=fail_closed)
            self._next_probe = now + PROBE_INTERVAL_S  # this check is the probe
        try:
            values = await client.mget(keys_for(token, claims))
        except (redis.RedisError, OSError) as exc:
            return self._unavailable(exc, fail_closed=fail_closed)
        if self._check_failing:
            self._check_failing = False
            _LOGGER.warning("revocation: Redis is back; access tokens are checked again")
        revoked = is_revoked(claims, values)
        self.stats.checks[REVOKED if revoked else VALID] += 1
        return revoked

    def _unavailable(self, exc: BaseException | None, *, fail_closed: bool) -> bool:
        self.stats.checks[FAILED_CLOSED if fail_closed else FAILED_OPEN] += 1
        if not self._check_failing:
            self._check_failing = True
            self._next_probe = self._monotonic() + PROBE_INTERVAL_S
            _LOGGER.warning(
                "revocation: Redis unavailable (%s); refusing admin tokens, accepting app "
                "tokens unchecked until it is back",
                type(exc).__name__,
            )
        if fail_closed:
            raise RevocationUnavailable from exc
        return False
