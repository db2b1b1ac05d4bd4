"""X-Request-Id in core: a sane incoming id is kept whole, anything else gets a new one.

Core's check once used `^...$` with `re.match`, which lets an id with a final newline
through (`$` matches before it). HTTP cannot carry that newline, so the envelope itself is
asked; the HTTP tests cover what a client can send.
"""

from __future__ import annotations

import re
from typing import Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request

from authara_contract import routes
from authara_core.platform.csp import security_headers
from authara_core.platform.csrf import CsrfGuard
from authara_core.platform.envelope import RequestEnvelope
from authara_core.platform.error_render import ErrorRenderer
from authara_core.platform.render import Renderer
from tests.coresupport import PUBLIC_URL

NEW_ID: Final = re.compile(r"[0-9a-f]{32}")


async def _id_for(incoming: str) -> str:
    envelope = RequestEnvelope(
        ErrorRenderer(Renderer()), CsrfGuard(PUBLIC_URL, dev=True), security_headers(google=False)
    )

    async def ok(_request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    request = make_mocked_request("GET", routes.HEALTH, headers={"X-Request-Id": incoming})
    response = await envelope.middleware(request, ok)
    return response.headers["X-Request-Id"]


@pytest.mark.parametrize("incoming", ["abc\n", "abc\r", "abc\r\n", "\nabc"])
async def test_an_id_with_a_line_break_is_replaced(incoming: str) -> None:
    assert NEW_ID.fullmatch(await _id_for(incoming))


async def test_a_sane_id_is_kept_by_the_envelope() -> None:
    assert await _id_for("abc-1.2_3") == "abc-1.2_3"


@pytest.mark.parametrize(
    "incoming", ["a" * 129, "a/b", "a;b", "<script>", "a b", "%0a", "a:b", "id\tx"]
)
async def test_an_id_too_long_or_with_other_characters_is_replaced(
    client: TestClient[web.Request, web.Application], incoming: str
) -> None:
    response = await client.get(routes.HEALTH, headers={"X-Request-Id": incoming})
    assert response.status == 200
    assert NEW_ID.fullmatch(response.headers["X-Request-Id"])


async def test_the_longest_sane_id_is_kept(
    client: TestClient[web.Request, web.Application],
) -> None:
    incoming = "a" * 128
    response = await client.get(routes.HEALTH, headers={"X-Request-Id": incoming})
    assert response.headers["X-Request-Id"] == incoming
