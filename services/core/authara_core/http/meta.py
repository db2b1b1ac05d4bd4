"""Health and version endpoints."""

from aiohttp import web

from authara_contract import VERSION


async def health(_request: web.Request) -> web.StreamResponse:
    """Answer liveness cheaply (no database round trip)."""
    return web.Response(text='{"status":"ok"}', content_type="text/plain")


async def version(_request: web.Request) -> web.StreamResponse:
    """Report the build version."""
    return web.json_response({"version": VERSION})
