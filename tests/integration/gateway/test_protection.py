"""Protected paths against a corpus of path variants, through the gateway to a recording app.

Every target goes over a raw socket exactly as written (an HTTP client would normalise some
of them first), and the upstream records what reached it: a protected variant must not.
"""

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from authara_contract.errors import ErrorCode, error_body
from tests.integration.gateway.support import (
    IDENTITY,
    WAIT,
    Control,
    MakeGateway,
    access_token,
)

Gateway = TestClient[web.Request, web.Application]

# Paths some app could read as /private or below it.
PROTECTED = [
    "/private",
    "/private/",
    "/private/report",
    "/private.",
    "/private..",
    "/private%2e",
    "/private.%20.%20",
    "/private%20",
    "/private%C2%A0",  # a no-break space, trimmed by str.strip and others
    "/private%2520",  # encoded twice
    "/private%2500",  # a NUL encoded twice: forwarded as is, but protected
    "/private\\x",
    "/private%5Cx",
    "/private%2F..%2F",
    "/private%2f",
    "/private/..",
    "/private/%2e%2e",
    "/private/%2E%2E/",
    "/x/%2e%2e/private",
    "/x/..%2Fprivate",
    "/x/..\\private",
    "//private",
    "///private/x",
    "/./private",
    "/%2e/private",
    "/PRIVATE",
    "/Private/X",
    "/%70rivate",
    "/private;x",
    "/private;jsessionid=1/y",
    "/private%3Bx",
    "/private::$DATA",
    "/private%3Fx",
    "/private%23x",
]
# Paths that decode to a control character: refused before any routing, whatever the prefix.
CONTROL_CHARACTERS = [
    "/private%00",
    "/private%09",
    "/private%0D",
    "/private%1f",
    "/private%7F",
    "/public%00",
    "/auth/login%00",
]
# Not protected, and not a way in: no app routes these to /private.
OPEN = [
    "/",
    "/privateer",
    "/private-x",
    "/priv",
    "/public/private",
    "/%EF%BD%90rivate",  # a fullwidth p: a lookalike, not the same path
    "/p%C3%A1ivate",
]


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(identity=IDENTITY, protected_paths=("/private",))


async def _get(gateway: Gateway, target: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    """Send `GET target` exactly as written; return the status, headers and body."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    lines = [f"GET {target} HTTP/1.1", "Host: example.test", "Connection: close", *headers]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response_headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split(" ")[1]), response_headers, body


@pytest.mark.parametrize("target", PROTECTED)
async def test_anonymous_requests_for_protected_variants_never_reach_the_app(
    gateway: Gateway, control: Control, target: str
) -> None:
    status, _, body = await _get(gateway, target, "Accept: application/json")

    assert status == 401, target
    assert body == error_body(ErrorCode.UNAUTHORIZED, "Sign in to continue.")
    assert control.seen == []


@pytest.mark.parametrize("target", CONTROL_CHARACTERS)
async def test_paths_with_control_characters_are_refused_with_400(
    gateway: Gateway, control: Control, target: str
) -> None:
    status, headers, body = await _get(
        gateway, target, "Accept: application/json", f"Cookie: authara_access={access_token()}"
    )

    assert status == 400, target
    assert body == error_body(
        ErrorCode.INVALID_REQUEST, "The request path contains a control character."
    )
    assert headers["Cache-Control"] == "no-store"
    assert control.seen == []


async def test_an_encoded_newline_is_not_found_as_aiohttps_router_answers(
    gateway: Gateway, control: Control
) -> None:
    status, _, _ = await _get(gateway, "/private%0A", "Accept: application/json")

    assert status == 404
    assert control.seen == []


@pytest.mark.parametrize("target", OPEN)
async def test_other_paths_reach_the_app_byte_for_byte(
    gateway: Gateway, control: Control, target: str
) -> None:
    status, _, _ = await _get(gateway, target, "Accept: application/json")

    assert status == 200, target
    assert control.only().raw_path == target


@pytest.mark.parametrize("target", ["/private.", "/private%20", "/PRIVATE", "/private\\x"])
async def test_signed_in_users_reach_protected_variants_unchanged(
    gateway: Gateway, control: Control, target: str
) -> None:
    status, _, _ = await _get(gateway, target, f"Cookie: authara_access={access_token()}")

    assert status == 200
    seen = control.only()
    assert seen.raw_path == target
    assert seen.headers["X-Authara-User-Id"]


async def test_an_anonymous_browser_on_a_variant_goes_to_login_with_that_target(
    gateway: Gateway, control: Control
) -> None:
    status, headers, _ = await _get(gateway, "/private%20?a=1", "Accept: text/html")

    assert status == 303
    assert headers["Location"] == "/auth/login?return_to=%2Fprivate%2520%3Fa%3D1"
    assert control.seen == []
