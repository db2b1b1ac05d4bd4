"""The internal API's OpenAPI document and the app agree: same operations, no CSRF, bearer."""

from __future__ import annotations

import pytest
from aiohttp import web

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_contract.errors import ErrorCode
from authara_core.app import create_app
from authara_core.platform.csrf import csrf_required
from authara_core.platform.openapi_internal import internal_openapi_document
from authara_core.settings import load_settings
from tests.coresupport import core_env

DB = DatabaseSettings(host="127.0.0.1", port=5432, database="authara", username="postgres")


def _internal_routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical.removeprefix(routes.INTERNAL_PREFIX))
        for route in app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and route.resource.canonical.startswith(routes.INTERNAL_PREFIX + "/")
    }


def _documented() -> dict[tuple[str, str], dict[str, object]]:
    doc = internal_openapi_document()
    return {
        (method.upper(), path): operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
    }


def test_document_and_routes_list_the_same_operations() -> None:
    app = create_app(load_settings(core_env(DB)))
    assert _internal_routes(app) == set(_documented())


@pytest.mark.parametrize(("method", "path"), sorted(_documented()))
def test_no_internal_operation_needs_csrf(method: str, path: str) -> None:
    operation = _documented()[(method, path)]
    assert operation["x-authara-csrf"] == "none"
    assert csrf_required(method, routes.INTERNAL_PREFIX + path) is False


@pytest.mark.parametrize(("method", "path"), sorted(_documented()))
def test_every_operation_but_the_document_needs_the_bearer(method: str, path: str) -> None:
    operation = _documented()[(method, path)]
    if path == "/openapi.json":
        assert operation["security"] == []
    else:
        assert "security" not in operation  # the document's default: internalBearer
        assert operation["x-authara-access"] == "internal"
        assert operation["x-authara-error-codes"]["401"] == ["unauthorized"]  # type: ignore[index]


def test_error_codes_are_contract_codes() -> None:
    known = {code.value for code in ErrorCode}
    for operation in _documented().values():
        for codes in operation["x-authara-error-codes"].values():  # type: ignore[union-attr]
            assert set(codes) <= known


def test_document_is_valid_openapi_31() -> None:
    from openapi_spec_validator import validate

    validate(internal_openapi_document())
