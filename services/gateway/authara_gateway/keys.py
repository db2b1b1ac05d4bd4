"""Typed application keys."""

from typing import Final

from aiohttp import web

from .metrics import GatewayMetrics
from .revocation import RevocationCounters
from .settings import GatewaySettings
from .websocket import WebSocketRelay

SETTINGS_KEY: Final = web.AppKey("settings", GatewaySettings)
WEBSOCKETS_KEY: Final = web.AppKey("websockets", WebSocketRelay)
# Present only when revocation checks are on (AUTHARA_CACHE_PROVIDER=redis with identity).
REVOCATION_COUNTERS_KEY: Final = web.AppKey("revocation_counters", RevocationCounters)
METRICS_KEY: Final = web.AppKey("metrics", GatewayMetrics)
"""The gateway's metrics, present when GATEWAY_METRICS_BIND is set (for wiring and tests)."""
