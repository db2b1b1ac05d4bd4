"""The two signatures of a delivery, both HMAC-SHA256 keyed with AUTHARA_WEBHOOK_SECRET's bytes.

- Upstream's (its SDKs verify it): `X-Authara-Signature: sha256=<lowercase hex of
  HMAC-SHA256(secret, raw body)>`. It covers the body only, so a captured delivery can be
  replayed at will.
- Standard Webhooks 1.0: `webhook-signature: v1,<base64 of HMAC-SHA256(secret,
  "<webhook-id>.<webhook-timestamp>.<raw body>")>`, where the timestamp is this attempt's
  Unix time: receivers refuse stale timestamps and ids they have seen, which stops replays.
  The key is the secret's UTF-8 bytes; with the `standardwebhooks` library a receiver passes
  those bytes (`Webhook(secret.encode())`) or `"whsec_" + base64(secret)`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from authara_contract import webhooks as wire


def upstream_signature(secret: str, body: bytes) -> str:
    """Return the `X-Authara-Signature` value for `body`."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return wire.SIGNATURE_PREFIX + digest


def standard_signature(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value (one `v1,` signature) for one attempt."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def delivery_headers(
    secret: str, *, event_id: str, event_type: str, timestamp: int, body: bytes
) -> Mapping[str, str]:
    """Return every header of one delivery attempt (upstream's and Standard Webhooks')."""
    return {
        "Content-Type": "application/json",
        wire.EVENT: event_type,
        wire.DELIVERY: event_id,
        wire.SIGNATURE: upstream_signature(secret, body),
        wire.WEBHOOK_ID: event_id,
        wire.WEBHOOK_TIMESTAMP: str(timestamp),
        wire.WEBHOOK_SIGNATURE: standard_signature(secret, event_id, timestamp, body),
    }
