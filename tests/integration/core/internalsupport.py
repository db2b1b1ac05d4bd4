"""Shared by the internal-API tests: the bearer token, a team made through the API, members."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from authara_contract import routes

TOKEN = "internal-s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def create_team(client: TestClient[Any, Any], owner_id: str, name: str = "Acme") -> str:
    """Create a team organization through the internal API; return its id."""
    response = await client.post(
        routes.INTERNAL_ORGANIZATIONS,
        json={"name": name, "created_by_user_id": owner_id},
        headers=BEARER,
    )
    assert response.status == 201, await response.text()
    org_id: str = (await response.json())["organization"]["id"]
    return org_id


async def add_member(conn: asyncpg.Connection, org_id: str, user_id: str, role: str) -> None:
    """Make a user a member of an organization directly in the database."""
    await conn.execute(
        "INSERT INTO organization_memberships (organization_id, user_id, role) VALUES ($1, $2, $3)",
        uuid.UUID(org_id),
        uuid.UUID(user_id),
        role,
    )
