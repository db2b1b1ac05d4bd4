"""docs/configuration.md is generated from the contract's env table and names every variable."""

from __future__ import annotations

from authara_contract.env import CORE, ENV_PATTERNS, ENV_VARS, EnvVar, Service
from tests.deploy import configuration_doc


def test_the_committed_document_is_what_the_table_generates() -> None:
    committed = configuration_doc.DOCUMENT.read_text(encoding="utf-8")
    assert committed == configuration_doc.render(), (
        "docs/configuration.md is stale: .venv/bin/python -m tests.deploy.configuration_doc"
    )


def test_every_variable_and_pattern_has_a_row() -> None:
    text = configuration_doc.render()
    for var in (*ENV_VARS, *ENV_PATTERNS):
        assert f"| `{var.name}` |" in text


def test_a_row_shows_default_services_and_escapes_pipes() -> None:
    var = EnvVar(
        "X_MODE", "enum", "a", False, frozenset({CORE, Service.GATEWAY}), "a|b", frozenset()
    )
    assert (
        configuration_doc.render([var], []).count(
            "| `X_MODE` | enum | `a` | core, gateway | a\\|b |"
        )
        == 1
    )
    required = EnvVar("X_KEY", "string", None, True, frozenset({CORE}), "k", frozenset())
    assert "| `X_KEY` | string | **required** | core | k |" in configuration_doc.render(
        [required], []
    )
