"""One delivery attempt over HTTP (aiohttp's client), and what its answer means for the event.

The receiver's URL is configuration, but what answers there is not trusted, so an attempt
cannot make core a proxy or a sink:
- redirects are not followed (a 3xx fails the event, like upstream's other non-retryable codes);
- the whole attempt (connect, send, headers, body) has one deadline, AUTHARA_WEBHOOK_TIMEOUT;
- at most MAX_RESPONSE_BYTES of the body are read, then the connection is dropped, so an
  endless or huge body costs a bounded read; bodies are not decompressed;
- proxy environment variables (HTTP_PROXY, ...) and .netrc are ignored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Final

import aiohttp

from authara_core.webhooks.signing import delivery_headers

MAX_RESPONSE_BYTES: Final = 64 * 1024
USER_AGENT: Final = "Authara-Webhooks/1"


class Outcome(Enum):
    """What an attempt's result means for its event."""

    DELIVERED = "delivered"
    RETRY = "retry"  # network error, timeout, 429, 5xx
    FAIL = "fail"  # any other status: 1xx, 3xx (not followed), 4xx


@dataclass(frozen=True, slots=True)
class Attempt:
    """The result of one attempt: its outcome and, unless delivered, why."""

    outcome: Outcome
    detail: str
    status: int | None = None


def classify(status: int) -> Outcome:
    """Map an HTTP status to an outcome (contract §13)."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 429 or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.FAIL


class WebhookSender:
    """POSTs signed envelopes to the configured URL; one client session, opened on first use."""

    def __init__(self, *, url: str, secret: str, timeout: timedelta, connections: int) -> None:
        self._url = url
        self._secret = secret
        self._timeout_s = timeout.total_seconds()
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def close(self) -> None:
        """Close the client session and its connections."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, *, event_id: str, event_type: str, body: bytes, timestamp: int) -> Attempt:
        """Deliver one event; never raises for what the receiver or the network does."""
        headers = delivery_headers(
            self._secret, event_id=event_id, event_type=event_type, timestamp=timestamp, body=body
        )
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._post(body, dict(headers))
        except TimeoutError:
            return Attempt(Outcome.RETRY, f"no answer within {self._timeout_s:g}s")
        except (aiohttp.ClientError, OSError) as exc:
            return Attempt(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:300])

    async def _post(self, body: bytes, headers: dict[str, str]) -> Attempt:
        async with self._client().post(
            self._url, data=body, headers=headers, allow_redirects=False
        ) as response:
            status = response.status
            if not await _drain(response):
                response.close()  # more than we read: drop the connection instead
            outcome = classify(status)
            detail = "" if outcome is Outcome.DELIVERED else f"HTTP {status}"
            return Attempt(outcome, detail, status)


async def _drain(response: aiohttp.ClientResponse) -> bool:
    """Read and discard the body up to MAX_RESPONSE_BYTES; return whether it ended there."""
    left = MAX_RESPONSE_BYTES
    while left > 0:
        chunk = await response.content.read(min(left, 16 * 1024))
        if not chunk:
            return True
        left -= len(chunk)
    return response.content.at_eof()
