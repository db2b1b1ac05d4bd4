"""Attempt throttling by client IP and by email (upstream contract §9).

Fixed windows that start at the first hit; `limit` attempts are allowed per window. The
in-memory limiter is per process (a shared Redis backend is a later port of the same
protocol); blocked attempts are not counted, so a blocked client cannot extend its lockout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Protocol

from authara_core.platform.clock import Clock
from authara_core.platform.errors import RateLimited

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
