"""Typed application keys."""

from typing import Final

from aiohttp import web

from .metrics import GatewayMetrics
from .settings import GatewaySettings
from .websocket import WebSocketRelay

SETTINGS_KEY: Final = web.AppKey("settings", GatewaySettings)
WEBSOCKETS_KEY: Final = web.AppKey("websockets", WebSocketRelay)
METRICS_KEY: Final = web.AppKey("metrics", GatewayMetrics)
"""The gateway's metrics, present when GATEWAY_METRICS_BIND is set (for wiring and tests)."""
