"""deploy/compose/.env.example documents every variable with the value compose runs with."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from authara_contract.env import ENV_VARS, EnvVar, Service
from tests.deploy import env_example
from tests.deploy.compose import (
    InterpolationError,
    dotenv_entries,
    interpolate_tree,
    load_compose,
    read_dotenv,
)
from tests.deploy.layout import COMPOSE_FILE, ENV_EXAMPLE

REGENERATE = "regenerate it: .venv/bin/python -m tests.deploy.env_example"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(COMPOSE_FILE)


def test_env_example_is_generated_from_the_table_and_the_compose_file(
    compose: dict[str, Any],
) -> None:
    expected = env_example.render(compose)

    assert ENV_EXAMPLE.read_text(encoding="utf-8") == expected, (
        f"{ENV_EXAMPLE} is out of date with the env table or the compose file; {REGENERATE}"
    )


def test_every_table_variable_appears_once_and_only_required_ones_are_set(
    compose: dict[str, Any],
) -> None:
    entries = dotenv_entries(ENV_EXAMPLE.read_text(encoding="utf-8"))
    counts = Counter(entry.name for entry in entries)
    values = env_example.compose_values(compose)
    defaults = {var.name: var.default or "" for var in ENV_VARS}

    assert set(defaults) <= counts.keys()
    assert [name for name, count in counts.items() if count > 1] == []
    assert {entry.name for entry in entries if entry.active} == {
        name for name, value in values.items() if value.required
    }
    for entry in entries:
        if not entry.active:
            compose_value = values[entry.name].value if entry.name in values else None
            expected = defaults.get(entry.name, "") if compose_value is None else compose_value
            assert entry.value == expected, f"line {entry.line}: {entry.name}"


def test_compose_refuses_to_start_until_the_secrets_are_filled_in(compose: dict[str, Any]) -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")

    with pytest.raises(InterpolationError, match=r"POSTGRESQL_PASSWORD|AUTHARA_JWT_KEYS"):
        interpolate_tree(compose, read_dotenv(text))
    interpolate_tree(compose, env_example.filled_example(text))


def _compose_with(environment: dict[str, str]) -> dict[str, Any]:
    return {"services": {"core": {"image": "authara-core:1", "environment": environment}}}


def test_a_compose_default_that_contradicts_the_table_is_refused() -> None:
    compose = _compose_with({"AUTHARA_SHUTDOWN_TIMEOUT": "${AUTHARA_SHUTDOWN_TIMEOUT:-30s}"})

    with pytest.raises(env_example.EnvExampleError, match="table to '10s'"):
        env_example.render(compose)


def test_an_undocumented_compose_variable_is_refused() -> None:
    compose = _compose_with({"AUTHARA_BIND": "${AUTHARA_LISTEN:-0.0.0.0:8080}"})

    with pytest.raises(env_example.EnvExampleError, match="AUTHARA_LISTEN"):
        env_example.render(compose)


def test_a_variable_added_to_the_table_changes_the_example(compose: dict[str, Any]) -> None:
    extra = EnvVar("AUTHARA_NEW_KNOB", "int", "7", False, frozenset({Service.CORE}), "a new knob")

    text = env_example.render(compose, [*ENV_VARS, extra])

    assert "# a new knob (int; core)\n# AUTHARA_NEW_KNOB=7\n" in text
    assert text != ENV_EXAMPLE.read_text(encoding="utf-8")
