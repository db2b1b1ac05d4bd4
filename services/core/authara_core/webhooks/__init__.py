"""Webhooks: events recorded in the outbox, delivered to AUTHARA_WEBHOOK_URL, signed."""
