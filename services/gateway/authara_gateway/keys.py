"""Typed application keys."""

from typing import Final

from aiohttp import web

from .settings import GatewaySettings
from .websocket import WebSocketRelay

SETTINGS_KEY: Final = web.AppKey("settings", GatewaySettings)
WEBSOCKETS_KEY: Final = web.AppKey("websockets", WebSocketRelay)
