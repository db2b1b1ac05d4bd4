"""Typed application keys."""

from typing import Final

import aiohttp
from aiohttp import web

from .proxy import Proxy
from .settings import GatewaySettings
from .upstreams import UpstreamPool
from .websocket import WebSocketRelay

SETTINGS_KEY: Final = web.AppKey("settings", GatewaySettings)
CLIENT_SESSION_KEY: Final = web.AppKey("client_session", aiohttp.ClientSession)
CORE_POOL_KEY: Final = web.AppKey("core_pool", UpstreamPool)
WEBSOCKETS_KEY: Final = web.AppKey("websockets", WebSocketRelay)
PROXY_KEY: Final = web.AppKey("proxy", Proxy)
