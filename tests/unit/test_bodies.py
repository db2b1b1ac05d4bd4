"""Request-body validation: the fast compiled check never accepts what jsonschema refuses."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema
import pytest

from authara_core.platform.bodies import BodyReader
from authara_core.platform.openapi import SCHEMAS

WRONG_VALUES: list[Any] = [None, 0, 1.5, True, "", "x", "not-an-email", [], ["x"], {}, {"a": 1}]


def _corpus(schema: dict[str, Any]) -> list[Any]:
    """Bodies around a schema: valid ones, each field wrong in every way, missing, extra."""
    properties: dict[str, Any] = schema.get("properties", {})
    good: dict[str, Any] = {}
    for name, spec in properties.items():
        if "enum" in spec:
            good[name] = spec["enum"][0]
        elif spec.get("type") == "boolean":
            good[name] = True
        elif spec.get("type") == "array":
            good[name] = []
        elif spec.get("format") == "uuid":
            good[name] = "5b0e7a3e-0d8a-4c54-9d34-6f1d3b2f9a10"
        elif spec.get("pattern") == "^[0-9]{6}$":
            good[name] = "012345"
        else:
            good[name] = "user@example.com" if "email" in name else "value"
    bodies: list[Any] = [good, {}, [], "body", None, 3, {**good, "unknown": 1}]
    for name in properties:
        bodies.append({key: value for key, value in good.items() if key != name})
        bodies.extend({**good, name: wrong} for wrong in WRONG_VALUES)
    for first, second in itertools.combinations(properties, 2):
        bodies.append({first: good[first], second: None})
    return bodies


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_fast_check_agrees_with_jsonschema(name: str) -> None:
    reader = BodyReader()
    reference = jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}
    )
    schema = SCHEMAS[name]
    assert isinstance(schema, dict)
    corpus = _corpus(schema)
    verdicts = [(reader.problem(name, body) is None, reference.is_valid(body)) for body in corpus]
    disagreements = [
        body for body, (ours, theirs) in zip(corpus, verdicts, strict=True) if ours != theirs
    ]
    assert disagreements == []
    # For the request bodies the corpus has valid and invalid ones: agreement is not vacuous.
    if name.endswith("Request"):
        assert {theirs for _, theirs in verdicts} == {True, False}
