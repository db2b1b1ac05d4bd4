"""The gateway's readiness: core ready on any of its upstreams, else the real reason why not.

An operator reading `/auth/gateway/ready` must tell "core is down" (connection refused),
"core hangs" (no answer in time) and "core is up but not ready" (core's own 503 and its
reason, e.g. its database is unreachable) apart. Upstream addresses stay out of the answer,
which any client can read.
"""

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import web

from authara_contract.routes import READY

from .settings import Upstream

# Longer than core's own deadline for its database check (2 s), so that a stalled database
# arrives here as core's reason rather than as a gateway timeout.
READY_TIMEOUT: Final = 3.0
# Core's reason is passed on, but a broken or hostile upstream must not fill the answer.
REASON_LIMIT: Final = 200
_BODY_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class Probe:
    """What one core upstream answered to its readiness check."""

    ready: bool
    reason: str = ""


async def core_unready_reason(
    session: aiohttp.ClientSession,
    upstreams: Sequence[Upstream],
    *,
    answer_within: float = READY_TIMEOUT,
) -> str | None:
    """Return None when any core upstream is ready, else why none is (one reason each)."""
    probes = [
        asyncio.ensure_future(probe(session, upstream, answer_within)) for upstream in upstreams
    ]
    try:
        for finished in asyncio.as_completed(probes):
            if (await finished).ready:
                return None
    finally:
        for pending in probes:
            pending.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
    return "; ".join(dict.fromkeys(task.result().reason for task in probes))


async def probe(session: aiohttp.ClientSession, upstream: Upstream, answer_within: float) -> Probe:
    """Ask one core upstream whether it is ready."""
    try:
        async with session.get(
            upstream.base_url.with_path(READY),
            timeout=aiohttp.ClientTimeout(total=answer_within),
            allow_redirects=False,
        ) as response:
            if response.status == web.HTTPOk.status_code:
                return Probe(ready=True)
            body = await response.content.read(_BODY_LIMIT)
            return Probe(ready=False, reason=_not_ready(response.status, body))
    except aiohttp.ClientConnectorError as exc:
        return Probe(ready=False, reason=f"core is unreachable ({_connect_error(exc)})")
    except TimeoutError:
        return Probe(ready=False, reason=f"core did not answer within {answer_within:g} s")
    except aiohttp.ClientError as exc:
        return Probe(ready=False, reason=f"core is unreachable ({_client_error(exc)})")


def _not_ready(status: int, body: bytes) -> str:
    try:
        reason = json.loads(body).get("reason")
    except (ValueError, AttributeError):
        reason = None
    if not isinstance(reason, str) or not _printable(reason):
        return f"core is not ready (status {status})"
    return f"core is not ready: {_printable(reason)} (status {status})"


def _printable(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if len(cleaned) > REASON_LIMIT:
        cleaned = cleaned[: REASON_LIMIT - 1] + "…"
    return cleaned


def _connect_error(exc: aiohttp.ClientConnectorError) -> str:
    errno = exc.os_error.errno
    return os.strerror(errno).lower() if errno else "connection failed"


def _client_error(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "it closed the connection without answering"
    return exc.__class__.__name__
