"""The gateway against real upstreams: verified identity headers, forged ones dropped."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from authara_contract.claims import Audience, OrganizationRole, PlatformRole
from authara_contract.tokens import KeySet
from authara_gateway.settings import IdentitySettings
from tests.integration.gateway.support import (
    IDENTITY,
    IDENTITY_NAMES,
    Control,
    MakeGateway,
    access_token,
    identity_like,
    signed_claims,
)

FORGED: Final = {
    "X-Authara-User-Id": "forged",
    "x-authara-session-id": "forged",
    "X-AUTHARA-ROLES": "authara:admin",
    "X-Authara-Audience": "admin",
    "X-Authara-Organization-Id": "forged",
    "x-authara-organization-role": "owner",
    "X-Authara-Anything": "forged",
    "X_Authara_User_Id": "forged",
}


@pytest.mark.parametrize("path", ["/dashboard", "/auth/api/v1/user"])
@pytest.mark.parametrize("identity", [IDENTITY, None])
async def test_forged_identity_headers_never_reach_an_upstream(
    make_gateway: MakeGateway, control: Control, path: str, identity: IdentitySettings | None
) -> None:
    gateway = await make_gateway(identity=identity)

    await gateway.get(path, headers=FORGED)

    assert identity_like(control.only().headers) == []


async def test_valid_token_gives_the_app_verified_identity(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    roles = (PlatformRole.ADMIN.value, PlatformRole.AUDITOR.value)
    organization_id = uuid.uuid4()
    token = access_token(
        user_id=user_id,
        session_id=session_id,
        roles=roles,
        organization_id=organization_id,
        organization_role=OrganizationRole.ADMIN,
    )

    await gateway.get("/dashboard", headers={**FORGED, "Cookie": f"authara_access={token}"})

    sent = control.only().headers
    assert sorted(name.lower() for name in identity_like(sent)) == sorted(IDENTITY_NAMES)
    assert sent["X-Authara-User-Id"] == str(user_id)
    assert sent["X-Authara-Session-Id"] == str(session_id)
    assert sent["X-Authara-Roles"] == "authara:admin,authara:auditor"
    assert sent["X-Authara-Audience"] == "app"
    assert sent["X-Authara-Organization-Id"] == str(organization_id)
    assert sent["X-Authara-Organization-Role"] == "admin"


async def test_no_roles_is_an_empty_header(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    await gateway.get("/dashboard", headers={"Cookie": f"authara_access={access_token()}"})

    assert control.only().headers.getall("X-Authara-Roles") == [""]


async def test_core_never_receives_identity_headers(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    response = await gateway.get(
        "/auth/api/v1/user", headers={**FORGED, "Cookie": f"authara_access={access_token()}"}
    )

    assert response.status == 200
    seen = control.only()
    assert seen.upstream == "core"
    assert identity_like(seen.headers) == []
    assert "authara_access=" in seen.headers["Cookie"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            access_token(now=datetime.now(UTC) - timedelta(hours=1), ttl=timedelta(minutes=10)),
            id="expired",
        ),
        pytest.param(
            access_token(keys=KeySet(keys={"k1": b"w" * 32}, active_kid="k1")), id="wrong-key"
        ),
        pytest.param(
            access_token(keys=KeySet(keys={"k9": b"s" * 32}, active_kid="k9")), id="unknown-kid"
        ),
        pytest.param(access_token(issuer="https://other.test"), id="wrong-issuer"),
        pytest.param(access_token(audience=Audience.ADMIN), id="admin-audience"),
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param(signed_claims(exp=10**30), id="exp-out-of-range"),
        pytest.param(signed_claims(iat=-(10**30)), id="iat-out-of-range"),
    ],
)
async def test_invalid_token_forwards_anonymously(
    gateway: TestClient[web.Request, web.Application], control: Control, token: str
) -> None:
    response = await gateway.get(
        "/dashboard", headers={**FORGED, "Cookie": f"authara_access={token}"}
    )

    assert response.status == 200
    assert identity_like(control.only().headers) == []


async def test_without_identity_settings_a_valid_token_is_not_forwarded(
    make_gateway: MakeGateway, control: Control
) -> None:
    gateway = await make_gateway(identity=None)

    await gateway.get("/dashboard", headers={"Cookie": f"authara_access={access_token()}"})

    assert identity_like(control.only().headers) == []


@pytest.mark.parametrize("claims", [{"exp": 10**30}, {"iat": 10**30}, {"exp": float("inf")}])
async def test_a_token_with_out_of_range_times_does_not_open_a_protected_path(
    make_gateway: MakeGateway, control: Control, claims: dict[str, object]
) -> None:
    gateway = await make_gateway(identity=IDENTITY, protected_paths=("/private",))

    response = await gateway.get(
        "/private",
        headers={
            "Accept": "application/json",
            "Cookie": f"authara_access={signed_claims(**claims)}",
        },
    )

    assert response.status == 401
    assert control.seen == []
