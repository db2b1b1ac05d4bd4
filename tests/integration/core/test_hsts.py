"""Strict-Transport-Security on every core response in prod behind https, never otherwise."""

from __future__ import annotations

from typing import Any, Final

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from tests.coresupport import core_env
from tests.integration.core.conftest import ClientFactory

HTTPS: Final = "https://auth.example.com"
# Pages, API, meta, static, and errors from the CSRF check, handlers and routing.
REQUESTS: Final = [
    ("GET", "/auth/health", 200),
    ("GET", "/auth/ready", 200),
    ("GET", "/auth/login", 200),
    ("GET", "/auth/api/v1/csrf", 200),
    ("GET", "/auth/static/authara.css", 200),
    ("POST", "/auth/api/v1/login", 403),
    ("GET", "/auth/api/v1/user", 401),
    ("GET", "/auth/api/v1/nowhere", 404),
    ("GET", "/auth/nowhere", 404),
    ("GET", "/elsewhere", 404),
]


async def core(
    aiohttp_client: ClientFactory, db: DatabaseSettings, **env: str
) -> TestClient[Any, Application]:
    return await aiohttp_client(create_app(load_settings(core_env(db, **env))))


async def hsts_values(client: TestClient[Any, Application]) -> set[str | None]:
    values = set()
    for method, path, status in REQUESTS:
        response = await client.request(method, path, allow_redirects=False)
        assert response.status == status, (method, path)
        values.add(response.headers.get("Strict-Transport-Security"))
    return values


async def test_prod_behind_https_sends_it_on_every_response(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await core(aiohttp_client, db, APP_ENV="prod", PUBLIC_URL=HTTPS)
    assert await hsts_values(client) == {"max-age=31536000"}


async def test_the_configured_max_age_and_subdomains_are_sent(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await core(
        aiohttp_client,
        db,
        APP_ENV="prod",
        PUBLIC_URL=HTTPS,
        AUTHARA_HSTS_MAX_AGE="86400",
        AUTHARA_HSTS_INCLUDE_SUBDOMAINS="true",
    )
    assert await hsts_values(client) == {"max-age=86400; includeSubDomains"}


@pytest.mark.parametrize(
    "env",
    [
        {"APP_ENV": "dev", "PUBLIC_URL": "http://127.0.0.1:3000"},
        {"APP_ENV": "dev", "PUBLIC_URL": HTTPS},
        {"APP_ENV": "prod", "PUBLIC_URL": HTTPS, "AUTHARA_HSTS_MAX_AGE": "0"},
    ],
    ids=["dev-http", "dev-https", "prod-disabled"],
)
async def test_absent_otherwise(
    aiohttp_client: ClientFactory, db: DatabaseSettings, env: dict[str, str]
) -> None:
    client = await core(aiohttp_client, db, **env)
    assert await hsts_values(client) == {None}
