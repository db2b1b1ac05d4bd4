"""The gateway against failing upstreams: 502/504 envelopes and pages, cut connections."""

import aiohttp
import pytest

from authara_contract.errors import JSON_CONTENT_TYPE, ErrorCode, error_body
from authara_gateway.settings import (
    TimeoutSettings,
    Upstream,
)
from tests.integration.gateway.support import (
    Control,
    MakeGateway,
    free_port,
)


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/auth/api/v1/x", "text/html"), ("/page", "application/json"), ("/auth/api/v1/x", "*/*")],
)
async def test_upstream_down_is_502_json_for_api_clients(
    make_gateway: MakeGateway, path: str, accept: str
) -> None:
    down = Upstream("127.0.0.1", free_port())
    gateway = await make_gateway(auth_upstreams=(down,), app_upstreams=(down,))

    response = await gateway.get(path, headers={"Accept": accept, "X-Request-Id": "r-502"})

    assert response.status == 502
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert response.headers["X-Request-Id"] == "r-502"
    body = await response.read()
    assert body == error_body(ErrorCode.BAD_GATEWAY, (await response.json())["error"]["message"])


async def test_upstream_down_is_an_html_page_for_browsers(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(app_upstreams=(Upstream("127.0.0.1", free_port()),))

    response = await gateway.get(
        "/page", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )

    assert response.status == 502
    assert response.headers["Content-Type"].startswith("text/html")
    text = await response.text()
    assert "<html" in text
    assert "Traceback" not in text


async def test_slow_upstream_is_504(make_gateway: MakeGateway, control: Control) -> None:
    gateway = await make_gateway(timeouts=TimeoutSettings(connect=2.0, read=0.3))

    try:
        api = await gateway.get("/auth/api/v1/slow")
        page = await gateway.get("/page/slow", headers={"Accept": "text/html"})
    finally:
        control.release.set()

    assert api.status == 504
    assert await api.read() == error_body(
        ErrorCode.GATEWAY_TIMEOUT, (await api.json())["error"]["message"]
    )
    assert page.status == 504
    assert page.headers["Content-Type"].startswith("text/html")


async def test_upstream_failing_mid_response_cuts_the_connection(
    make_gateway: MakeGateway, control: Control
) -> None:
    gateway = await make_gateway(timeouts=TimeoutSettings(connect=2.0, read=0.3))

    try:
        response = await gateway.get("/download/stall")
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    finally:
        control.release.set()
