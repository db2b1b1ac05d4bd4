"""The demo app alone: identity headers in, JSON and pages out; anonymous visitors redirected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request
from yarl import URL

from authara_contract import headers
from authara_demo.app import DemoSettings, create_app
from authara_devstack.embedded_pg import free_port

ClientFactory = Callable[[Application], Awaitable[TestClient[Request, Application]]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory) -> TestClient[Request, Application]:
    # Nothing listens on this port: calls to core fail and the demo must cope.
    unreachable_core = URL(f"http://127.0.0.1:{free_port()}")
    settings = DemoSettings(host="127.0.0.1", port=0, authara_base_url=unreachable_core)
    return await aiohttp_client(create_app(settings))


async def test_whoami_is_all_null_without_identity_headers(
    client: TestClient[Request, Application],
) -> None:
    response = await client.get("/whoami")

    assert response.status == 200
    assert await response.json() == {
        "user_id": None,
        "session_id": None,
        "roles": None,
        "audience": None,
        "organization_id": None,
        "organization_role": None,
    }


async def test_whoami_reports_the_identity_headers(
    client: TestClient[Request, Application],
) -> None:
    response = await client.get(
        "/whoami",
        headers={
            headers.USER_ID: "3f1c2a4e-0000-4000-8000-000000000001",
            headers.SESSION_ID: "3f1c2a4e-0000-4000-8000-000000000002",
            headers.ROLES: "authara:admin, authara:auditor",
            headers.AUDIENCE: "admin",
            headers.ORGANIZATION_ID: "3f1c2a4e-0000-4000-8000-000000000003",
            headers.ORGANIZATION_ROLE: "member",
        },
    )

    assert await response.json() == {
        "user_id": "3f1c2a4e-0000-4000-8000-000000000001",
        "session_id": "3f1c2a4e-0000-4000-8000-000000000002",
        "roles": ["authara:admin", "authara:auditor"],
        "audience": "admin",
        "organization_id": "3f1c2a4e-0000-4000-8000-000000000003",
        "organization_role": "member",
    }


async def test_whoami_reads_an_empty_roles_header_as_no_roles(
    client: TestClient[Request, Application],
) -> None:
    response = await client.get("/whoami", headers={headers.USER_ID: "u", headers.ROLES: ""})

    body = await response.json()
    assert body["roles"] == []
    assert body["user_id"] == "u"


async def test_private_redirects_anonymous_visitors_to_login(
    client: TestClient[Request, Application],
) -> None:
    response = await client.get("/private", allow_redirects=False)

    assert response.status == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query) == {"return_to": ["/private"]}


async def test_private_shows_the_user_id_escaped_with_a_logout_form(
    client: TestClient[Request, Application],
) -> None:
    response = await client.get(
        "/private",
        headers={headers.USER_ID: "<script>x</script>", "Cookie": 'authara_csrf=tok"en'},
    )

    html = await response.text()
    assert response.status == 200
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html
    assert '<form method="post" action="/auth/sessions/logout">' in html
    assert 'name="csrf_token" value="tok&#34;en"' in html
    assert "Log out" in html


async def test_home_offers_a_login_link_when_nobody_is_signed_in(
    client: TestClient[Request, Application],
) -> None:
    response = await client.get("/", headers={"Cookie": "authara_access=not-a-token"})

    html = await response.text()
    assert response.status == 200
    assert 'href="/auth/login?return_to=%2F"' in html
    assert "Log out" not in html
