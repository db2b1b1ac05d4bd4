"""Typed application keys."""

from typing import Final

import aiohttp
from aiohttp import web

from .proxy import Proxy
from .settings import GatewaySettings

SETTINGS_KEY: Final = web.AppKey("settings", GatewaySettings)
CLIENT_SESSION_KEY: Final = web.AppKey("client_session", aiohttp.ClientSession)
PROXY_KEY: Final = web.AppKey("proxy", Proxy)
