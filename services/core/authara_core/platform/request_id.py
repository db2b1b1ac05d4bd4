"""The request id every core request carries (set by the envelope, read when logging)."""

from typing import Final

from aiohttp import web

REQUEST_ID_KEY: Final = web.RequestKey("request_id", str)
