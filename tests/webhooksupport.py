"""A real webhook receiver for tests (an aiohttp server on a real socket) and signature checks.

The checks are written from the rules, not with core's code: upstream's (as its Go SDK's
VerifyWebhookSignature: `sha256=` + lowercase hex HMAC-SHA256(secret, body), compared in
constant time) and Standard Webhooks' through the `standardwebhooks` reference library.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True, slots=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    delay_s: float = 0.0  # wait this long before answering
    body: bytes = b""
    endless: bool = False  # stream a body until the client hangs up
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the receiver saw it."""

    headers: Mapping[str, str]
    body: bytes

    @property
    def envelope(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records every POST; answers from a script of replies, then 200."""

    def __init__(self, *replies: Reply) -> None:
        self.received: list[Received] = []
        self.replies = list(replies)
        self.streamed = 0  # body bytes written by endless replies
        self.hung_up = asyncio.Event()  # a client dropped an endless reply
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(Received(dict(request.headers), await request.read()))
        reply = self.replies.pop(0) if self.replies else Reply()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if not reply.endless:
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while True:
                await response.write(chunk)
                self.streamed += len(chunk)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            self.hung_up.set()
            raise
        return response  # pragma: no cover (the loop ends by the client hanging up)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        app.router.add_post("/elsewhere", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await runner.cleanup()


def upstream_valid(secret: str, body: bytes, header: str) -> bool:
    """Upstream's rule (Go SDK VerifyWebhookSignature), written out independently."""
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len("sha256=") :], expected)


def verify_both(secret: str, received: Received) -> Any:
    """Check both signatures of a delivery and its headers; return the envelope."""
    headers = {name.lower(): value for name, value in received.headers.items()}
    assert upstream_valid(secret, received.body, headers["x-authara-signature"])
    # The reference library: the key is the secret's bytes (or "whsec_" + its base64).
    Webhook(secret.encode()).verify(received.body, headers)
    envelope = received.envelope
    assert headers["content-type"] == "application/json"
    assert headers["x-authara-event"] == envelope["type"]
    assert headers["x-authara-delivery"] == headers["webhook-id"] == envelope["id"]
    return envelope


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    """Poll `check` until it holds (a deadline, not a timing assertion)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)
