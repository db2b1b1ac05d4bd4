"""Generate docs/configuration.md: every environment variable, from the contract's table.

One table per group of services (the same groups as .env.example), each row the variable's
name, type, default, the services that read it, and its description. After changing the table,
regenerate with

    .venv/bin/python -m tests.deploy.configuration_doc

and tests/deploy/test_configuration_doc.py checks that the committed file is what this produces.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

from authara_contract.env import ENV_PATTERNS, ENV_VARS, EnvVar
from tests.deploy.env_example import SECTIONS

DOCUMENT: Final = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
HEADER: Final = """\
# Configuration

Every environment variable Authara's services read, generated from the contract's table
(`shared/authara_contract/env.py`) by `.venv/bin/python -m tests.deploy.configuration_doc`:
do not edit by hand. A contract test proves each service reads exactly its rows. A missing or
bad value stops a service with exit code 2 and one line naming every bad variable.

**Required** variables have no default: the services marked with them refuse to start without
them. `authara dev` sets all of them for you; `deploy/compose/.env.example` lists them with the
values compose uses.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(var: EnvVar) -> str:
    if var.required:
        needs = sorted(service.value for service in var.services - var.optional_for)
        default = "**required**" if not var.optional_for else f"**required** ({', '.join(needs)})"
    elif var.default in (None, ""):
        default = "(empty)"
    else:
        default = f"`{var.default}`"
    services = ", ".join(sorted(service.value for service in var.services))
    return f"| `{var.name}` | {_cell(var.kind)} | {default} | {services} | {_cell(var.doc)} |"


def _table(variables: Iterable[EnvVar]) -> list[str]:
    rows = [_row(var) for var in sorted(variables, key=lambda var: var.name)]
    return ["| variable | type | default | read by | meaning |", "|---|---|---|---|---|", *rows]


def render(env_vars: Iterable[EnvVar] = ENV_VARS, patterns: Iterable[EnvVar] = ENV_PATTERNS) -> str:
    """Return the text of docs/configuration.md."""
    table = list(env_vars)
    lines = [HEADER]
    placed: set[str] = set()
    for title, belongs in SECTIONS:
        group = [var for var in table if belongs(var) and var.name not in placed]
        if group:
            placed |= {var.name for var in group}
            lines += [f"## {title}", "", *_table(group), ""]
    rest = [var for var in table if var.name not in placed]
    if rest:
        lines += ["## Other", "", *_table(rest), ""]
    lines += [
        "## One set per OAuth provider",
        "",
        "`<NAME>` is a provider named in `AUTHARA_OAUTH_PROVIDERS`, upper-cased.",
        "",
        *_table(patterns),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Write docs/configuration.md."""
    DOCUMENT.write_text(render(), encoding="utf-8")
    print(f"wrote {DOCUMENT}")


if __name__ == "__main__":
    main()
