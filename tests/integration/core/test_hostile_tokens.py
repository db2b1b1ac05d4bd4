"""Core refuses validly signed access tokens with out-of-range times like any invalid token."""

import base64
import json
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from authara_contract import cookies, routes
from authara_contract.errors import ErrorCode, error_body
from authara_contract.tokens import KeySet
from tests.coresupport import ISSUER, TEST_KEY, TEST_KID
from tests.tokensupport import sign_claims

KEYS = KeySet({TEST_KID: base64.b64decode(TEST_KEY)}, TEST_KID)


def _signed(**claims: object) -> str:
    """Sign a user token's claims with core's key, some replaced by hostile values."""
    return sign_claims(KEYS, ISSUER, int(time.time()), **claims)


HOSTILE = [
    pytest.param({"exp": 10**30}, id="exp-huge"),
    pytest.param({"exp": 1e308}, id="exp-huge-float"),
    pytest.param({"iat": 10**30}, id="iat-huge"),
    pytest.param({"iat": -(10**30)}, id="iat-huge-negative"),
    pytest.param({"iat": float("-inf")}, id="iat-negative-infinity"),
]


async def _assert_unauthorized_envelope(response: aiohttp.ClientResponse) -> None:
    body = await response.read()
    assert response.status == 401, body
    assert body == error_body(ErrorCode.UNAUTHORIZED, json.loads(body)["error"]["message"])


@pytest.mark.parametrize("claims", HOSTILE)
async def test_user_with_an_out_of_range_access_cookie_is_401(
    client: TestClient[object, Application], claims: dict[str, object]
) -> None:
    cookie = f"{cookies.ACCESS.name}={_signed(**claims)}"

    response = await client.get(
        routes.API_USER, headers={"Cookie": cookie, "Accept": "application/json"}
    )

    await _assert_unauthorized_envelope(response)


@pytest.mark.parametrize("claims", HOSTILE)
async def test_user_with_an_out_of_range_bearer_token_is_401(
    client: TestClient[object, Application], claims: dict[str, object]
) -> None:
    # Core reads access tokens only from the cookie (upstream contract §3); a bearer token
    # must be ignored, not decoded into a crash.
    response = await client.get(
        routes.API_USER,
        headers={"Authorization": f"Bearer {_signed(**claims)}", "Accept": "application/json"},
    )

    await _assert_unauthorized_envelope(response)
