"""Read request bodies: JSON checked against the OpenAPI schemas, query parameters, form fields."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import fastjsonschema
import jsonschema
from aiohttp import web
from multidict import MultiDictProxy

from authara_contract.claims import Audience
from authara_core.platform.errors import InvalidRequest
from authara_core.platform.openapi import NO_NUL_PATTERN, SCHEMAS

CONTRACT_MISMATCH: Final = "Request does not match the API contract."
_DETAIL_MAX: Final = 160
# PostgreSQL text cannot hold NUL: refuse it at the edge instead of failing in the database.
NUL_MESSAGE: Final = "Text fields must not contain NUL characters."
# A lone surrogate (JSON "\ud800", or undecodable bytes in a form part) is not Unicode text:
# it cannot be stored, hashed or encoded for a response.
SURROGATE_MESSAGE: Final = "Text fields must be valid Unicode text."
FORM_MALFORMED: Final = "The form body is malformed."
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

    def __init__(self, schemas: Mapping[str, Any] = SCHEMAS) -> None:
        documents = {
            name: {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}}
            for name in schemas
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
            # UTF-8 only (RFC 8259 §8.1): json.loads(bytes) would also guess UTF-16 and UTF-32.
            body = json.loads(raw.decode("utf-8"))
            error = self.problem(schema, body)
        except RecursionError as exc:  # deep nesting exhausts the parser's (or validator's) stack
            raise InvalidRequest(f"{CONTRACT_MISMATCH} The body is nested too deeply.") from exc
        except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
            raise InvalidRequest(f"{CONTRACT_MISMATCH} The body is not valid JSON.") from exc
        if error is not None:
            raise InvalidRequest(f"{CONTRACT_MISMATCH} {_describe(error)}")
        check_text(_strings(body))
        assert isinstance(body, dict)  # noqa: S101  (the schema requires an object)
        return body


async def read_form(request: web.Request) -> MultiDictProxy[str | Any]:
    """Return the parsed form body, or raise InvalidRequest when it is malformed or not text.

    Every form is read here (the CSRF check and the handlers share aiohttp's cached
    result), so a broken multipart body or undecodable text is a 400, never a 500.
    """
    try:
        form = await request.post()
    except web.HTTPException:
        raise  # 413 for an oversize body
    except Exception as exc:  # any parse failure is the client's malformed body
        raise InvalidRequest(FORM_MALFORMED) from exc
    check_text(value for value in form.values() if isinstance(value, str))
    check_text(form.keys())
    return form


def check_text(values: Iterable[str]) -> None:
    """Refuse (InvalidRequest) NUL and lone surrogates: PostgreSQL can store neither."""
    for value in values:
        if "\x00" in value:
            raise InvalidRequest(NUL_MESSAGE)
        if not _encodable(value):
            raise InvalidRequest(SURROGATE_MESSAGE)


def _encodable(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strings(value: object) -> Iterator[str]:
    """Yield every string in a parsed JSON value, object keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


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
    elif error.validator == "minLength" and error.validator_value == 1:
        detail = "must not be empty"
    elif error.validator == "minLength":
        detail = f"is too short (at least {error.validator_value} characters)"
    elif error.validator == "maxLength":
        detail = f"is too long (at most {error.validator_value} characters)"
    elif error.validator == "pattern" and error.validator_value == NO_NUL_PATTERN:
        detail = "must not contain NUL characters"
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
