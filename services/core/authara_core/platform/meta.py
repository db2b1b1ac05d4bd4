"""Endpoints about the server itself: liveness, readiness, version, CSRF token, OpenAPI."""

from __future__ import annotations

import asyncio
from typing import Final

import asyncpg
from aiohttp import web

from authara_contract import VERSION
from authara_contract.headers import NO_STORE
from authara_core.platform.cookies import CookieWriter, csrf_token_of
from authara_core.platform.db import Database
from authara_core.platform.errors import DatabaseUnavailable
from authara_core.platform.openapi import openapi_document
from authara_core.platform.openapi_internal import internal_openapi_document
from authara_core.platform.render import json_response
from authara_core.platform.schema import REQUIRED_SCHEMA_REVISION, current_schema_revision

READINESS_TIMEOUT_S: Final = 2.0


async def health(_request: web.Request) -> web.StreamResponse:
    """Answer liveness cheaply (no database round trip)."""
    return web.Response(text='{"status":"ok"}', content_type="text/plain")


async def version(_request: web.Request) -> web.StreamResponse:
    """Report the build version."""
    return json_response({"version": VERSION})


class Readiness:
    """Ready means: the database answers and is at the schema revision this build needs."""

    def __init__(self, database: Database, schema: str) -> None:
        self._database = database
        self._schema = schema

    async def ready(self, _request: web.Request) -> web.StreamResponse:
        """Answer 200 when ready to serve, else 503 with the reason, within READINESS_TIMEOUT_S.

        The deadline holds even against a stalled server because Database discards a
        connection whose statement was cancelled instead of waiting for the server to confirm.
        """
        try:
            async with asyncio.timeout(READINESS_TIMEOUT_S), self._database.connection() as conn:
                revision = await current_schema_revision(conn, self._schema)
        except TimeoutError:
            return _unready(f"database did not answer within {READINESS_TIMEOUT_S:g}s")
        except (OSError, asyncpg.PostgresError, RuntimeError, DatabaseUnavailable):
            return _unready("database unreachable")
        if revision != REQUIRED_SCHEMA_REVISION:
            return _unready(
                f"schema is at revision {revision or 'none'}, needs {REQUIRED_SCHEMA_REVISION}"
            )
        return json_response({"status": "ready"}, headers={"Cache-Control": NO_STORE})


def _unready(reason: str) -> web.Response:
    return json_response(
        {"status": "unavailable", "reason": reason},
        status=503,
        headers={"Cache-Control": NO_STORE},
    )


class ApiMeta:
    """The JSON API's own endpoints: the CSRF token and the OpenAPI document."""

    def __init__(self, cookie_writer: CookieWriter) -> None:
        self._cookies = cookie_writer
        self._document = openapi_document()
        self._internal_document = internal_openapi_document()

    async def csrf(self, request: web.Request) -> web.StreamResponse:
        """Return the CSRF token, setting the cookie when the client has none."""
        token, is_new = csrf_token_of(request)
        response = json_response({"csrf_token": token})
        if is_new:
            self._cookies.set_csrf(response, token)
        return response

    async def openapi(self, _request: web.Request) -> web.StreamResponse:
        """Serve the OpenAPI document."""
        return json_response(self._document)

    async def internal_openapi(self, _request: web.Request) -> web.StreamResponse:
        """Serve the internal API's OpenAPI document (it holds no secret: no token needed)."""
        return json_response(self._internal_document)
