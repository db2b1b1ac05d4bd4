"""Revoked access tokens withheld from the app (contract §5.6), with AUTHARA_CACHE_PROVIDER=redis.

Core writes a revocation to Redis (SET PX) and then publishes it on `revocation.CHANNEL`.
Each gateway worker keeps what it learned in memory:

- a subscriber task receives every published revocation (key, value, TTL) and keeps it until
  its TTL ends, so a revocation reaches every replica within one round trip of Redis;
- the first time a worker sees a token (since it last subscribed), it reads the token's four
  keys with one MGET: revocations written before the subscription started are seen too;
- after that, checking the token is one dictionary lookup: no Redis round trip, no database
  query per request.

A subscription that breaks loses messages, so after every (re)subscription each token is read
from Redis again on its next request. While Redis is unreachable the check fails OPEN (the app
audience only; core checks admin tokens itself): the identity is passed on, the outage is
logged once and every such request counted; the subscriber reconnects with backoff, and
nothing needs a restart. See docs/operations.md.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from authara_contract import revocation
from authara_contract.tokens import AccessClaims

_LOGGER = logging.getLogger(__name__)

# Tokens checked since the last subscription (as many as the identity cache keeps, ~2 KB
# each), and revocation keys learned: beyond these the oldest entry goes (a forgotten token
# costs one MGET; a forgotten revocation forces every token to be read from Redis again, so
# none is lost).
MAX_TOKENS: Final = 10_000
MAX_KEYS: Final = 50_000
# Reconnect delays while Redis is unreachable: doubling from the first to the last.
BACKOFF_FIRST: Final = 0.05
BACKOFF_MAX: Final = 2.0
# The subscriber polls this often (seconds) for a reconnect request from a failed lookup.
POLL: Final = 0.5
# After this long without a word from Redis the subscriber pings; without an answer within
# as long again the subscription is taken for dead (a silent network drop).
IDLE_PING: Final = 5.0

_Keys = tuple[str, str, str, str]


@dataclass(slots=True)
class RevocationCounters:
    """What the revocation check did, per worker (for the metrics exporter).

    `hits` were answered from memory, `misses` needed one Redis lookup, `fail_open` could not
    be checked against Redis (it was unreachable) and kept their identity, `revoked` lost it,
    `outages` counts the times Redis became unreachable.
    """

    hits: int = 0
    misses: int = 0
    fail_open: int = 0
    revoked: int = 0
    outages: int = 0


@dataclass(slots=True)
class _Checked:
    """A token read from Redis in one subscription, and its verdict as of one generation."""

    keys: _Keys
    claims: AccessClaims
    epoch: int
    generation: int
    revoked: bool


class Revocations:
    """The revocations one gateway worker knows about, kept current through pub/sub.

    Use `known()` first (no await, the hot path); when it returns None, `look_up()`.
    """

    def __init__(
        self,
        client: Redis,
        *,
        counters: RevocationCounters | None = None,
        clock: Callable[[], float] = time.time,
        max_tokens: int = MAX_TOKENS,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._client = client
        self.counters = counters or RevocationCounters()
        self._clock = clock
        self._max_tokens = max_tokens
        self._max_keys = max_keys
        self._checked: dict[str, _Checked] = {}
        # key -> (value, until): a revocation learned from a message or a lookup.
        self._values: dict[str, tuple[str, float]] = {}
        # Bumped by every subscription: tokens checked under an older one are read again.
        self._epoch = 0
        # Bumped by every change to `_values`: cached verdicts older than it are recomputed.
        self._generation = 0
        self._subscribed = False
        self._down = False
        self._reconnect = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- the check ---------------------------------------------------------------------

    def known(self, token: str) -> bool | None:
        """Return whether a token is revoked from memory; None when Redis must be asked."""
        entry = self._checked.get(token)
        if entry is None or entry.epoch != self._epoch or not self._subscribed:
            return None
        if entry.generation != self._generation:
            entry.revoked = self._verdict(entry.keys, entry.claims)
            entry.generation = self._generation
        self.counters.hits += 1
        if entry.revoked:
            self.counters.revoked += 1
        return entry.revoked

    async def look_up(self, token: str, claims: AccessClaims) -> bool:
        """Read a token's revocation keys from Redis (one MGET); fail open when it is down."""
        keys = revocation.keys_for(token, claims)
        if self._down:
            self.counters.fail_open += 1
            return self._counted(self._verdict(keys, claims))
        epoch, subscribed = self._epoch, self._subscribed
        self.counters.misses += 1
        try:
            values = await self._client.mget(keys)
        except (RedisError, OSError) as exc:
            self._outage(exc)
            self.counters.fail_open += 1
            return self._counted(self._verdict(keys, claims))
        until = claims.expires_at.timestamp()
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                self._remember(key, _text(value), until)
        revoked = self._verdict(keys, claims)
        if subscribed and self._subscribed and epoch == self._epoch:
            # Anything revoked from now on arrives as a message: memory answers from here.
            self._keep(token, _Checked(keys, claims, epoch, self._generation, revoked))
        return self._counted(revoked)

    async def is_revoked(self, token: str, claims: AccessClaims) -> bool:
        """Tell whether a verified token was revoked (memory first, then Redis)."""
        verdict = self.known(token)
        if verdict is None:
            verdict = await self.look_up(token, claims)
        return verdict

    @property
    def subscribed(self) -> bool:
        """Tell whether the worker is currently receiving revocations."""
        return self._subscribed

    def _counted(self, revoked: bool) -> bool:
        if revoked:
            self.counters.revoked += 1
        return revoked

    def _verdict(self, keys: _Keys, claims: AccessClaims) -> bool:
        now = self._clock()
        values: list[str | None] = []
        for key in keys:
            entry = self._values.get(key)
            values.append(entry[0] if entry is not None and entry[1] > now else None)
        return revocation.is_revoked(claims, values)

    def _keep(self, token: str, entry: _Checked) -> None:
        self._checked.pop(token, None)
        while len(self._checked) >= self._max_tokens:
            del self._checked[next(iter(self._checked))]  # dicts keep insertion order
        self._checked[token] = entry

    def _remember(self, key: str, value: str, until: float) -> None:
        known = self._values.get(key)
        if known is not None:
            value = _stronger(known[0], value)
            until = max(until, known[1])
            if (value, until) == known:
                return
            del self._values[key]
        elif len(self._values) >= self._max_keys:
            now = self._clock()
            for stale in [k for k, (_, end) in self._values.items() if end <= now]:
                del self._values[stale]
            while len(self._values) >= self._max_keys:
                del self._values[next(iter(self._values))]
                # A revocation was forgotten: every token must be read from Redis again.
                self._checked.clear()
        self._values[key] = (value, until)
        self._generation += 1

    def _outage(self, exc: BaseException) -> None:
        self._subscribed = False
        self._reconnect.set()
        if self._down:
            return
        self._down = True
        self.counters.outages += 1
        _LOGGER.warning(
            "Redis is unreachable (%s): access-token revocation checks fail open until it is back",
            exc.__class__.__name__ if not str(exc) else exc,
        )

    # --- the subscriber ----------------------------------------------------------------

    def start(self) -> None:
        """Start the subscriber task (it runs until `close`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._subscribe_forever(), name="revocations")

    async def close(self) -> None:
        """Stop the subscriber and close the Redis client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._subscribed = False
        await self._client.aclose()

    async def _subscribe_forever(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            pubsub = self._client.pubsub()
            try:
                self._reconnect.clear()
                await pubsub.subscribe(revocation.CHANNEL)
                await self._listen(pubsub)
            except (RedisError, OSError) as exc:
                self._outage(exc)
            except Exception:
                # A bug here must not end the subscriber for good: until it is back, tokens
                # are read from Redis on every request (not cached).
                _LOGGER.exception("the revocation subscriber failed; subscribing again")
            finally:
                self._subscribed = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            if not self._down:
                delay = BACKOFF_FIRST
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _listen(self, pubsub: PubSub) -> None:
        heard = time.monotonic()
        pinged = False
        while not self._reconnect.is_set():
            message = await pubsub.get_message(timeout=POLL)
            now = time.monotonic()
            if message is None:
                if now - heard > 2 * IDLE_PING:
                    raise RedisError("no answer to a ping on the revocation subscription")
                if now - heard > IDLE_PING and not pinged:
                    await pubsub.ping()
                    pinged = True
                continue
            heard, pinged = now, False
            kind = message.get("type")
            if kind == "subscribe":
                self._on_subscribed()
            elif kind == "message":
                self._on_message(message.get("data"))

    def _on_subscribed(self) -> None:
        self._epoch += 1
        self._subscribed = True
        if self._down:
            self._down = False
            _LOGGER.warning("Redis is reachable again: access-token revocation checks resumed")

    def _on_message(self, data: object) -> None:
        if not isinstance(data, bytes | str):
            return
        message = revocation.Revocation.from_message(data)
        if message is None:
            _LOGGER.debug("ignoring a message on %s that is not a revocation", revocation.CHANNEL)
            return
        self._remember(message.key, message.value, self._clock() + message.ttl_ms / 1000)


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _stronger(first: str, second: str) -> str:
    """Return the value that revokes more: a later cutoff, or one that is not a number."""
    try:
        return str(max(int(first), int(second)))
    except ValueError:
        return first if not first.lstrip("-").isdigit() else second
