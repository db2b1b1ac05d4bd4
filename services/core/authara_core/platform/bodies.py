"""Read request bodies: JSON checked against the OpenAPI schemas, query parameters, form fields."""

from __future__ import annotations

import json
from typing import Any, Final

import fastjsonschema
import jsonschema
from aiohttp import web
from multidict import MultiDictProxy

from authara_contract.claims import Audience
from authara_core.platform.errors import InvalidRequest
from authara_core.platform.openapi import SCHEMAS

CONTRACT_MISMATCH: Final = "Request does not match the API contract."
_DETAIL_MAX: Final = 160
# PostgreSQL text cannot hold NUL: refuse it at the edge instead of failing in the database.
NUL_MESSAGE: Final = "Text fields must not contain NUL characters."
FORM_ERROR_STATUS: Final = 422
"""Status of a form page shown again with what was wrong."""


def field(form: MultiDictProxy[str | Any], name: str) -> str:
    """Return a text form field ("" when absent); NUL characters are refused (400)."""
    value = form.get(name, "")
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        raise InvalidRequest(NUL_MESSAGE)
    return value


class BodyReader:
    """Validate request bodies with validators compiled once from the OpenAPI schemas.

    fastjsonschema compiles each schema to Python code and decides in about a microsecond;
    jsonschema (the reference implementation, 30 times slower) runs only for a body the
    fast check refused, to say precisely what is wrong, and has the last word. Formats are
    annotations in both, as JSON Schema 2020-12 specifies by default.
    """

    def __init__(self) -> None:
        documents = {
            name: {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}
            for name in SCHEMAS
        }
        self._validators = {
            name: jsonschema.Draft202012Validator(document) for name, document in documents.items()
        }
        self._fast_checks = {
            name: fastjsonschema.compile(document, use_formats=False)
            for name, document in documents.items()
        }

    def problem(self, schema: str, body: object) -> jsonschema.ValidationError | None:
        """Return what makes `body` not match the named schema, or None when it matches."""
        try:
            self._fast_checks[schema](body)
        except fastjsonschema.JsonSchemaException:
            error: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(
                self._validators[schema].iter_errors(body)
            )
            return error
        return None

    async def read(self, request: web.Request, schema: str) -> dict[str, Any]:
        """Return the JSON object body, or raise InvalidRequest saying what is wrong."""
        if request.content_type != "application/json":
            raise InvalidRequest(f"{CONTRACT_MISMATCH} Send Content-Type: application/json.")
        raw = await request.read()  # the app's client_max_size turns oversize bodies into 413
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"{CONTRACT_MISMATCH} The body is not valid JSON.") from exc
        error = self.problem(schema, body)
        if error is not None:
            raise InvalidRequest(f"{CONTRACT_MISMATCH} {_describe(error)}")
        if any("\x00" in value for value in body.values() if isinstance(value, str)):
            raise InvalidRequest(NUL_MESSAGE)
        assert isinstance(body, dict)  # noqa: S101  (the schema requires an object)
        return body


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "body"
    if error.validator == "type":
        detail = f"must be of type {error.validator_value}"
    elif error.validator == "required":
        detail = error.message.split(" is a required property")[0] + " is required"
    elif error.validator == "additionalProperties":
        detail = "has unknown fields"
    elif error.validator == "enum":
        detail = f"must be one of {', '.join(str(v) for v in error.validator_value)}"  # type: ignore[union-attr]
    else:
        detail = "is not valid"
    return f"{where} {detail}."[:_DETAIL_MAX]


def audience_param(request: web.Request, allowed: tuple[Audience, ...]) -> Audience:
    """Read the `audience` query parameter (default app) restricted to `allowed`."""
    raw = request.query.get("audience", Audience.APP.value)
    for audience in allowed:
        if raw == audience.value:
            return audience
    names = ", ".join(a.value for a in allowed)
    raise InvalidRequest(f"{CONTRACT_MISMATCH} audience must be one of {names}.")
