"""Typed application and request keys: the only way shared objects are reached."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from authara_core.accounts.service import AccountService
from authara_core.platform.db import Database
from authara_core.platform.hasher import PasswordHasher
from authara_core.platform.render import Renderer
from authara_core.sessions.service import SessionService
from authara_core.settings import Settings

if TYPE_CHECKING:  # the envelope module reads REQUEST_ID_KEY from here
    from authara_core.platform.envelope import RequestEnvelope

SETTINGS_KEY: Final = web.AppKey("settings", Settings)
DATABASE_KEY: Final = web.AppKey("database", Database)
HASHER_KEY: Final = web.AppKey("password_hasher", PasswordHasher)
ACCOUNTS_KEY: Final = web.AppKey("accounts", AccountService)
SESSIONS_KEY: Final = web.AppKey("sessions", SessionService)
RENDERER_KEY: Final = web.AppKey("renderer", Renderer)
ENVELOPE_KEY: Final[web.AppKey[RequestEnvelope]] = web.AppKey("request_envelope")

REQUEST_ID_KEY: Final = web.RequestKey("request_id", str)
