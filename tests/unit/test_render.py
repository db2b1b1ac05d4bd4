"""JSON bodies: compact, UTF-8, and users rendered as the OpenAPI document's AuthUser."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from authara_contract.errors import JSON_CONTENT_TYPE
from authara_core.accounts.store import UserRow
from authara_core.platform.render import json_response
from authara_core.sessions.responses import user_json


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC), "2026-01-02T03:04:05.120000Z"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        # An offset other than UTC keeps it (the database hands out UTC).
        (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05+02:00",
        ),
    ],
)
def test_user_timestamps_are_rfc3339_with_z_for_utc(created_at: datetime, expected: str) -> None:
    user = UserRow(
        id=uuid.UUID("0b8f5a8e-2c1d-4b7e-9a35-0f2d6c1e9b11"),
        email="ada@example.com",
        username="ada",
        created_at=created_at,
        disabled_at=None,
    )
    response = json_response(user_json(user))
    assert isinstance(response.body, bytes)
    assert json.loads(response.body) == {
        "id": "0b8f5a8e-2c1d-4b7e-9a35-0f2d6c1e9b11",
        "email": "ada@example.com",
        "username": "ada",
        "disabled": False,
        "created_at": expected,
    }
    # The same text the standard library gives, as the API answered before orjson.
    assert expected == created_at.isoformat().replace("+00:00", "Z")


def test_json_is_compact_utf8() -> None:
    response = json_response({"name": "Zoë", "n": [1, 2]}, status=201, headers={"X-A": "b"})
    assert response.status == 201
    assert response.body == '{"name":"Zoë","n":[1,2]}'.encode()
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert response.headers["X-A"] == "b"
