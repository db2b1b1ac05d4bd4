"""Typed application and request keys: the only way shared objects are reached."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from .http.render import Renderer
from .services.accounts import AccountService
from .services.passwords import PasswordHasher
from .services.sessions import SessionService
from .settings import Settings
from .store.db import Database

SETTINGS_KEY: Final = web.AppKey("settings", Settings)
DATABASE_KEY: Final = web.AppKey("database", Database)
HASHER_KEY: Final = web.AppKey("password_hasher", PasswordHasher)
ACCOUNTS_KEY: Final = web.AppKey("accounts", AccountService)
SESSIONS_KEY: Final = web.AppKey("sessions", SessionService)
RENDERER_KEY: Final = web.AppKey("renderer", Renderer)

REQUEST_ID_KEY: Final = web.RequestKey("request_id", str)
