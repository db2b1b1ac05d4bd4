"""Attempt throttling by client IP and by email (upstream contract §9).

Fixed windows that start at the first hit; `limit` attempts are allowed per window. The
in-memory limiter is per process; blocked attempts are not counted, so a blocked client
cannot extend its lockout. With `AUTHARA_CACHE_PROVIDER=redis` the counters live in Redis,
shared by every replica and worker (upstream's keys and script); while Redis is unreachable
each process counts on its own (its share of each limit) and Redis is tried again at most
once a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Protocol

import redis
from redis.asyncio import Redis

from authara_core.platform.clock import Clock
from authara_core.platform.errors import RateLimited

_LOGGER = logging.getLogger(__name__)

UNKNOWN_IP: Final = "__unknown_ip__"
EMPTY_KEY: Final = "__empty_key__"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `limit` attempts per `window`."""

    limit: int
    window: timedelta

    def shared_by(self, workers: int) -> Limit:
        """Split this limit over `workers` independent counters (never below 1)."""
        return Limit(max(1, self.limit // workers), self.window)


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    """The limits for one kind of attempt, per client IP and per email."""

    ip: Limit
    email: Limit

    def shared_by(self, workers: int) -> ThrottleRules:
        """Split both limits over `workers` independent counters."""
        return ThrottleRules(ip=self.ip.shared_by(workers), email=self.email.shared_by(workers))


class RateLimiter(Protocol):
    """Count attempts under a key; say how long until the key may try again."""

    async def hit(self, bucket: str, key: str, limit: Limit) -> float | None:
        """Count one attempt; return seconds until reset when it is over the limit."""
        ...


@dataclass(slots=True)
class _Window:
    count: int
    resets_at: float


class MemoryRateLimiter:
    """Per-process fixed-window counters with periodic sweeping and a hard size cap."""

    def __init__(self, clock: Clock, *, cleanup_every: int, max_entries: int) -> None:
        self._clock = clock
        self._cleanup_every = cleanup_every
        self._max_entries = max_entries
        self._windows: dict[tuple[str, str], _Window] = {}
        self._hits = 0

    async def hit(self, bucket: str, key: str, limit: Limit) -> float | None:
        """Count one attempt; return seconds until reset when it is over the limit."""
        now = self._clock.now().timestamp()
        self._maintain(now)
        window = self._windows.get((bucket, key))
        if window is None or window.resets_at <= now:
            self._windows[(bucket, key)] = _Window(1, now + limit.window.total_seconds())
            return None
        if window.count >= limit.limit:
            return window.resets_at - now
        window.count += 1
        return None

    def __len__(self) -> int:
        return len(self._windows)

    def _maintain(self, now: float) -> None:
        self._hits += 1
        if self._hits % self._cleanup_every == 0 or len(self._windows) >= self._max_entries:
            self._windows = {k: w for k, w in self._windows.items() if w.resets_at > now}
        while len(self._windows) >= self._max_entries:  # still full: forget the oldest counters
            del self._windows[next(iter(self._windows))]


KEY_PREFIX: Final = "authara:ratelimit:"
PROBE_INTERVAL_S: Final = 1.0
"""While Redis is down, at most one hit a second tries it (the others count in memory)."""
# Upstream's script: count the attempt, start the window at the first one, say how long it
# has left. Blocked attempts count too (the window is fixed: that extends nothing). A key
# that somehow lost its expiry gets one again rather than limiting forever.
_HIT_SCRIPT: Final = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


def redis_key(bucket: str, key: str) -> str:
    """Return upstream's counter key: `authara:ratelimit:<kind>:<ip|email>:<value>`."""
    return f"{KEY_PREFIX}{bucket}:{key}"


@dataclass(slots=True)
class RateLimitStats:
    """What the shared limiter did, for metrics: hits counted in Redis or in memory."""

    redis_hits: int = 0
    fallback_hits: int = 0
    outages: int = 0
    degraded: bool = False
    """True from the first failure of an outage until Redis answers again."""


class RedisRateLimiter:
    """Counters in Redis, one atomic script per hit; per-process counting while it is down.

    The fallback counts each process's share of a limit (`workers`), as without Redis, so
    the replicas together stay near the limit; the first failure of an outage logs one
    warning, and recovery (the next successful probe) one line.
    """

    def __init__(
        self,
        client: Redis,
        fallback: RateLimiter,
        *,
        workers: int = 1,
        stats: RateLimitStats | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._script = client.register_script(_HIT_SCRIPT)
        self._fallback = fallback
        self._workers = workers
        self._monotonic = monotonic
        self.stats = stats or RateLimitStats()
        self._down = False
        self._next_probe = 0.0

    async def hit(self, bucket: str, key: str, limit: Limit) -> float | None:
        """Count one attempt; return seconds until reset when it is over the limit."""
        if self._down:
            now = self._monotonic()
            if now < self._next_probe:
                return await self._fall_back(bucket, key, limit)
            self._next_probe = now + PROBE_INTERVAL_S  # this hit is the probe
        window_ms = max(1, round(limit.window.total_seconds() * 1000))
        try:
            count, ttl_ms = await self._script(keys=[redis_key(bucket, key)], args=[window_ms])
        except (redis.RedisError, OSError) as exc:
            if not self._down:
                self._down = True
                self.stats.outages += 1
                self.stats.degraded = True
                self._next_probe = self._monotonic() + PROBE_INTERVAL_S
                _LOGGER.warning(
                    "rate limits: Redis unavailable (%s); counting per process until it is back",
                    type(exc).__name__,
                )
            return await self._fall_back(bucket, key, limit)
        if self._down:
            self._down = False
            self.stats.degraded = False
            _LOGGER.warning("rate limits: Redis is back; counters are shared again")
        self.stats.redis_hits += 1
        if int(count) > limit.limit:
            return max(int(ttl_ms), 1) / 1000
        return None

    async def _fall_back(self, bucket: str, key: str, limit: Limit) -> float | None:
        self.stats.fallback_hits += 1
        return await self._fallback.hit(bucket, key, limit.shared_by(self._workers))


class Throttle:
    """Apply the attempt limits of contract §9: by IP and email, or by IP alone."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        login: ThrottleRules,
        signup: ThrottleRules,
        password_reset: ThrottleRules,
        challenge_verify: Limit,
        challenge_resend: Limit,
        passkey_login: Limit | None = None,
    ) -> None:
        self._limiter = limiter
        self._rules = {"login": login, "signup": signup, "password_reset": password_reset}
        self._ip_limits = {
            "challenge_verify": challenge_verify,
            "challenge_resend": challenge_resend,
        }
        if passkey_login is not None:  # options and finish: one limit, two buckets (§9)
            self._ip_limits["passkey_login"] = passkey_login
            self._ip_limits["passkey_login_finish"] = passkey_login

    async def check(self, kind: str, *, ip: str | None, email: str) -> None:
        """Count an attempt; raise RateLimited when the IP or the email is over its limit."""
        rules = self._rules[kind]
        resets_in = await self._limiter.hit(f"{kind}:ip", ip or UNKNOWN_IP, rules.ip)
        if resets_in is None:
            normalized = email.strip().lower() or EMPTY_KEY
            resets_in = await self._limiter.hit(f"{kind}:email", normalized, rules.email)
        if resets_in is not None:
            raise RateLimited(resets_in=resets_in)

    async def failed(self, kind: str, *, email: str, threshold: int) -> Limit | None:
        """Count a failed attempt for `email`; return the limit when this failure reaches it.

        It is reached at the `threshold`-th failure within the kind's per-email window
        (`threshold` is capped at the per-email limit, so it can be reached at all; 2 at
        least), and reported once per window: later failures in the same window return None.
        Two counters in the same limiter, no database write per failure.
        """
        rule = self._rules[kind].email
        reach = max(2, min(threshold, rule.limit))
        key = email.strip().lower() or EMPTY_KEY
        if await self._limiter.hit(f"{kind}:failed", key, Limit(reach - 1, rule.window)) is None:
            return None
        if await self._limiter.hit(f"{kind}:failed-reported", key, Limit(1, rule.window)):
            return None
        return Limit(reach, rule.window)

    async def check_ip(self, kind: str, *, ip: str | None) -> None:
        """Count an attempt limited by client IP only; raise RateLimited when over."""
        resets_in = await self._limiter.hit(f"{kind}:ip", ip or UNKNOWN_IP, self._ip_limits[kind])
        if resets_in is not None:
            raise RateLimited(resets_in=resets_in)
