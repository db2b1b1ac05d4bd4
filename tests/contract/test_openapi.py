"""The OpenAPI document and the app agree: same operations, same CSRF requirement, valid doc."""

from __future__ import annotations

import pytest
from aiohttp import web

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_contract.errors import ErrorCode
from authara_core.app import create_app
from authara_core.platform.csrf import csrf_required
from authara_core.platform.openapi import openapi_document
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


def _api_routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = route.resource.canonical
        if path.startswith(routes.API_PREFIX + "/"):
            found.add((route.method, path.removeprefix(routes.API_PREFIX)))
    return found


def _documented() -> dict[tuple[str, str], dict[str, object]]:
    doc = openapi_document()
    return {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def test_document_and_routes_list_the_same_operations() -> None:
    app = create_app(load_settings(core_env(DB)))
    assert _api_routes(app) == set(_documented())


@pytest.mark.parametrize(("method", "path"), sorted(_documented()))
def test_csrf_requirement_matches_the_middleware(method: str, path: str) -> None:
    operation = _documented()[(method, path)]
    declared = operation["x-authara-csrf"] == "required"
    assert csrf_required(method, routes.API_PREFIX + path) is declared


def test_error_codes_are_contract_codes() -> None:
    known = {code.value for code in ErrorCode}
    for operation in _documented().values():
        for codes in operation["x-authara-error-codes"].values():  # type: ignore[union-attr]
            assert set(codes) <= known


def test_document_is_valid_openapi_31() -> None:
    from openapi_spec_validator import validate

    validate(openapi_document())


async def test_document_is_served(aiohttp_client, db: DatabaseSettings) -> None:
    client = await aiohttp_client(create_app(load_settings(core_env(db))))
    response = await client.get(routes.API_OPENAPI)
    assert response.status == 200
    assert await response.json() == openapi_document()


def test_every_unsafe_route_requires_csrf_except_token_refresh_and_internal() -> None:
    app = create_app(load_settings(core_env(DB)))
    unsafe = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method not in ("GET", "HEAD", "OPTIONS")
    }
    exempt = {(method, path) for method, path in unsafe if not csrf_required(method, path)}
    internal = {(m, p) for m, p in unsafe if p.startswith(routes.INTERNAL_PREFIX + "/")}
    assert internal  # machine-to-machine, bearer token instead (test_internal_openapi.py)
    assert exempt == {("POST", routes.API_TOKENS_REFRESH)} | internal
    assert ("POST", routes.LOGIN) in unsafe
    assert ("POST", routes.REFRESH) in unsafe
