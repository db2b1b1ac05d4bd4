"""The demo's webhook receiver: verify what Authara POSTs, keep the last few events in memory.

Core delivers to `POST /webhooks/authara` directly (not through the gateway). A delivery is
accepted only if both signatures hold, keyed with AUTHARA_WEBHOOK_SECRET's bytes:

- upstream's `X-Authara-Signature: sha256=<hex HMAC-SHA256(secret, body)>` (what Authara's
  SDKs check), and
- Standard Webhooks' `webhook-signature: v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`
  with a `webhook-timestamp` at most five minutes from our clock, so a captured delivery
  cannot be replayed later; an id seen already is acknowledged and not stored twice
  (delivery is at least once).

Answers as upstream's Go SDK handler: 401 for a bad signature, 400 for a body that is not an
event, 200 once stored; 503 when no secret is configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from authara_contract import webhooks as wire

RECEIVER_PATH: Final = "/webhooks/authara"
PAGE_PATH: Final = "/webhooks"
KEEP: Final = 20
TOLERANCE_S: Final = 5 * 60
MAX_BODY: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An event as the page shows it."""

    id: str
    type: str
    created_at: str
    data: Any
    received_at: float

    @property
    def data_json(self) -> str:
        """The event's data, pretty-printed."""
        return json.dumps(self.data, indent=2, sort_keys=True)


class WebhookInbox:
    """The last KEEP verified events, newest first."""

    def __init__(self, secret: str | None, *, clock: Any = time.time) -> None:
        self._secret = secret.encode() if secret else None
        self._clock = clock
        self.events: deque[ReceivedEvent] = deque(maxlen=KEEP)

    @property
    def configured(self) -> bool:
        """Tell whether a secret is set (without one nothing can be verified)."""
        return self._secret is not None

    def verify(self, body: bytes, headers: Any) -> bool:
        """Check both signatures and the timestamp's freshness, in constant time."""
        key = self._secret
        if key is None:
            return False
        # Header values are text; bytes that are not ASCII cannot be a valid signature.
        upstream = headers.get(wire.SIGNATURE, "")
        event_id = headers.get(wire.WEBHOOK_ID, "")
        timestamp = headers.get(wire.WEBHOOK_TIMESTAMP, "")
        offered = headers.get(wire.WEBHOOK_SIGNATURE, "")
        if not all(value.isascii() for value in (upstream, event_id, timestamp, offered)):
            return False
        expected = wire.SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(upstream.encode(), expected.encode()):
            return False
        if not timestamp.isdigit() or abs(self._clock() - int(timestamp)) > TOLERANCE_S:
            return False
        signed = f"{event_id}.{timestamp}.".encode() + body
        standard = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return any(
            hmac.compare_digest(standard.encode(), sig.encode()) for sig in offered.split(" ")
        )

    def keep(self, envelope: Any) -> bool:
        """Store a verified envelope unless already seen; False when it is not an event."""
        if not isinstance(envelope, dict) or not all(
            isinstance(envelope.get(key), str) for key in ("id", "type", "created_at")
        ):
            return False
        if any(event.id == envelope["id"] for event in self.events):
            return True
        self.events.appendleft(
            ReceivedEvent(
                id=envelope["id"],
                type=envelope["type"],
                created_at=envelope["created_at"],
                data=envelope.get("data"),
                received_at=self._clock(),
            )
        )
        return True


INBOX_KEY: Final = web.AppKey("webhook_inbox", WebhookInbox)


async def receive(request: web.Request) -> web.Response:
    """Verify and store one delivery."""
    inbox = request.app[INBOX_KEY]
    if not inbox.configured:
        return web.Response(status=503, text="AUTHARA_WEBHOOK_SECRET is not set\n")
    body = await _read_at_most(request, MAX_BODY)
    if body is None:
        return web.Response(status=413, text="body too large\n")
    if not inbox.verify(body, request.headers):
        return web.Response(status=401, text="invalid signature\n")
    try:
        envelope = json.loads(body)
    except ValueError:
        return web.Response(status=400, text="invalid body\n")
    if not inbox.keep(envelope):
        return web.Response(status=400, text="invalid event\n")
    return web.Response(text="ok\n")


async def _read_at_most(request: web.Request, limit: int) -> bytes | None:
    """Read the whole body (it may arrive in many pieces); None once it exceeds `limit`."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)
