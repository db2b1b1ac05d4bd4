"""Generate deploy/compose/.env.example from the contract's env table and the compose file.

Every variable of the table appears once, with its documentation and the value it has in the
compose deployment when .env leaves it unset: compose's own `${NAME:-default}`, a value
compose fixes, or the table default. Variables compose cannot start without are the only
active lines. After changing the table or the compose file, regenerate with

    .venv/bin/python -m tests.deploy.env_example

and tests/deploy/test_env_example.py checks that the committed file is what this produces.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from authara_contract.env import ENV_PATTERNS, ENV_VARS, NAME_PLACEHOLDER, EnvVar, Service
from tests.deploy.compose import interpolate, load_compose, read_dotenv, references
from tests.deploy.layout import COMPOSE_FILE, ENV_EXAMPLE, PRODUCT_IMAGES

HEADER: Final = """\
# Environment for deploy/compose/docker-compose.yml, generated from the contract's table
# (shared/authara_contract/env.py) by `python -m tests.deploy.env_example`: do not edit by hand.
#
#   cp deploy/compose/.env.example deploy/compose/.env
#
# then fill in the REQUIRED section: compose refuses to start while one of those is empty.
# Every other line is commented out and shows the value used when .env does not set it.
# Keep .env out of version control: it holds the database password and the JWT keys.
"""
# What the required lines say in the example (empty: the operator must choose a secret).
EXAMPLE_VALUES: Final = {
    "PUBLIC_URL": "http://localhost:3000",
    "AUTHARA_JWT_ISSUER": "authara",
    "AUTHARA_JWT_ACTIVE_KEY_ID": "main",
}
HINTS: Final = {
    "POSTGRESQL_PASSWORD": "choose a long random password; the postgres service is created with it",
    "PUBLIC_URL": "the URL browsers use; https://... behind TLS in production (docs/operations.md)",
    "AUTHARA_JWT_KEYS": (
        "a new key: python3 -c 'import base64,os;"
        ' print("main:" + base64.b64encode(os.urandom(32)).decode())\''
    ),
    "AUTHARA_UPSTREAM": "with --profile scale: core:8080,core-replica:8080",
    "APP_UPSTREAM": "your application instead of the demo app",
}
COMPOSE_ONLY: Final = {
    "AUTHARA_IMAGE_TAG": "tag of the images compose builds and runs",
    "AUTHARA_HTTP_ADDRESS": "host address the gateway is published on (0.0.0.0 only behind TLS)",
    "AUTHARA_HTTP_PORT": "host port the gateway is published on (PUBLIC_URL must match)",
}
SECTIONS: Final = (
    ("All services", lambda var: var.services >= {Service.CORE, Service.GATEWAY}),
    ("Database (core and the migrations job)", lambda var: Service.MIGRATIONS in var.services),
    ("Core", lambda var: var.services == {Service.CORE}),
    ("Gateway", lambda var: var.services == {Service.GATEWAY}),
)


class EnvExampleError(ValueError):
    """The compose file and the env table disagree about a variable."""


@dataclass(frozen=True, slots=True)
class ComposeValue:
    """What compose does with one variable: require it, default it, or fix it."""

    required: bool
    value: str | None
    fixed: bool


def compose_values(compose: Mapping[str, Any]) -> dict[str, ComposeValue]:
    """Return, per variable, how the compose file sets it for Authara's own services."""
    found: dict[str, set[tuple[bool, str | None, bool]]] = {}
    # Services behind a profile (the `scale` replicas) may pin what the default services leave
    # to the operator (AUTHARA_CACHE_PROVIDER=redis): the defaults are the default services'.
    for service in _authara_services(compose):
        if service.get("profiles"):
            continue
        for name, raw in (service.get("environment") or {}).items():
            text = "" if raw is None else str(raw)
            refs = [ref for ref in references(text) if ref.name == name]
            if refs:
                outcome = (refs[0].required, refs[0].default, False)
            else:
                outcome = (False, interpolate(text, {}), True)
            found.setdefault(name, set()).add(outcome)
    for text in _strings(compose):
        for ref in references(text):
            if ref.name not in found or ref.required or ref.default is not None:
                found.setdefault(ref.name, set()).add((ref.required, ref.default, False))
    result = {}
    for name, outcomes in found.items():
        required = any(outcome[0] for outcome in outcomes)
        values = {outcome[1] for outcome in outcomes if not outcome[0] and outcome[1] is not None}
        if len(values) > 1:
            raise EnvExampleError(
                f"{name}: the compose file gives it several values {sorted(values)}"
            )
        fixed = any(outcome[2] for outcome in outcomes)
        result[name] = ComposeValue(required, next(iter(values), None), fixed)
    return result


def _authara_services(compose: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    images = {f"authara-{spec.name}" for spec in PRODUCT_IMAGES}
    for service in compose["services"].values():
        if str(service.get("image", "")).split(":")[0] in images:
            yield service


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if not str(key).startswith("x-"):
                yield from _strings(value)


def render(
    compose: Mapping[str, Any],
    env_vars: Iterable[EnvVar] = ENV_VARS,
    patterns: Iterable[EnvVar] = ENV_PATTERNS,
) -> str:
    """Return the text of .env.example."""
    table = list(env_vars)
    values = compose_values(compose)
    unknown = set(values) - {var.name for var in table} - set(COMPOSE_ONLY)
    if unknown:
        raise EnvExampleError(f"the compose file uses undocumented variables {sorted(unknown)}")
    required = [
        var for var in table if values.get(var.name, ComposeValue(False, None, False)).required
    ]
    blocks = [HEADER, "\n## REQUIRED\n"]
    blocks += [
        _block(var.name, _describe(var), EXAMPLE_VALUES.get(var.name, ""), active=True)
        for var in required
    ]
    placed = set(required)
    for title, belongs in SECTIONS:
        members = [var for var in table if var not in placed and belongs(var)]
        placed.update(members)
        blocks.append(f"\n## {title}\n")
        blocks += [_optional(var, values.get(var.name)) for var in members]
    if placed != set(table):
        raise EnvExampleError(f"no section for {sorted(v.name for v in set(table) - placed)}")
    pattern_rows = list(patterns)
    if pattern_rows:
        blocks.append(
            "\n## Sign-in providers: one set per name in AUTHARA_OAUTH_PROVIDERS,"
            f" {NAME_PLACEHOLDER} in upper case\n"
        )
        blocks += [
            _block(row.name, _describe(row), row.default or "", active=False)
            for row in pattern_rows
        ]
    blocks.append("\n## Compose\n")
    for name, doc in COMPOSE_ONLY.items():
        if name not in values:
            raise EnvExampleError(f"{name} is documented but the compose file does not use it")
        blocks.append(_block(name, doc, values[name].value or "", active=False))
    return "".join(blocks)


def _optional(var: EnvVar, compose: ComposeValue | None) -> str:
    description = _describe(var)
    value = var.default or ""
    if compose is not None and compose.value is not None:
        if compose.fixed:
            description += "; fixed by docker-compose.yml, setting it here has no effect"
        elif var.default is not None and compose.value != var.default:
            raise EnvExampleError(
                f"{var.name}: compose defaults it to {compose.value!r},"
                f" the table to {var.default!r}"
            )
        value = compose.value
    return _block(var.name, description, value, active=False)


def _describe(var: EnvVar) -> str:
    services = ", ".join(sorted(service.value for service in var.services))
    return f"{var.doc} ({var.kind}; {services})"


def _block(name: str, description: str, value: str, *, active: bool) -> str:
    lines = [f"# {description}"]
    if name in HINTS:
        lines.append(f"# {HINTS[name]}")
    lines.append(f"{'' if active else '# '}{name}={value}")
    return "\n".join(lines) + "\n"


def filled_example(text: str) -> dict[str, str]:
    """Return the variables of .env.example after an operator fills in the empty secrets."""
    variables = read_dotenv(text)
    for name, value in variables.items():
        if value:
            continue
        if name == "POSTGRESQL_PASSWORD":
            variables[name] = secrets.token_urlsafe(24)
        elif name == "AUTHARA_JWT_KEYS":
            key = base64.b64encode(secrets.token_bytes(32)).decode()
            variables[name] = f"{variables.get('AUTHARA_JWT_ACTIVE_KEY_ID', 'main')}:{key}"
        else:
            raise EnvExampleError(f"{name} is empty in .env.example and nobody knows what to put")
    return variables


def main() -> None:
    """Rewrite deploy/compose/.env.example."""
    ENV_EXAMPLE.write_text(render(load_compose(COMPOSE_FILE)), encoding="utf-8")


if __name__ == "__main__":
    main()
