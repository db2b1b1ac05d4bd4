"""Request keys the envelope sets or reads: the request id, an error a handler answered."""

from typing import Final

from aiohttp import web

REQUEST_ID_KEY: Final = web.RequestKey("request_id", str)
HANDLED_ERROR_KEY: Final = web.RequestKey("handled_error", Exception)
"""An error a handler turned into its own answer (e.g. a refused refresh), for the metrics."""
