"""Webhook wire facts (contract §13): event types and the headers of a delivery."""

from typing import Final

# Every event type core can emit, in the contract's order.
EVENT_TYPES: Final = (
    "user.created",
    "user.updated",
    "user.deleted",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organization.membership.created",
    "organization.membership.updated",
    "organization.membership.deleted",
    "organization.invitation.created",
    "organization.invitation.accepted",
    "organization.invitation.revoked",
)

# Upstream's headers: the event type, its id, and `sha256=<hex HMAC-SHA256(secret, body)>`.
EVENT: Final = "X-Authara-Event"
DELIVERY: Final = "X-Authara-Delivery"
SIGNATURE: Final = "X-Authara-Signature"
SIGNATURE_PREFIX: Final = "sha256="

# Standard Webhooks 1.0: the event id, this attempt's Unix time, `v1,<base64 HMAC-SHA256>` of
# `id.timestamp.body`.
WEBHOOK_ID: Final = "webhook-id"
WEBHOOK_TIMESTAMP: Final = "webhook-timestamp"
WEBHOOK_SIGNATURE: Final = "webhook-signature"
