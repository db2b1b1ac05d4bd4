"""Read the compose file the way `docker compose` does: YAML, `.env` files, interpolation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

_REFERENCE: Final = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_]\w*))"
)
_DOTENV_LINE: Final = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


class InterpolationError(ValueError):
    """A `${VAR:?message}` reference to an unset variable, or bad syntax."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One `${NAME...}` in the compose file."""

    name: str
    operator: str | None
    argument: str

    @property
    def default(self) -> str | None:
        """Return the value used when the variable is unset (`:-`/`-`), if any."""
        return self.argument if self.operator in (":-", "-") else None

    @property
    def required(self) -> bool:
        """Tell whether compose refuses to run without the variable (`:?`/`?`)."""
        return self.operator in (":?", "?")


def load_compose(path: Path) -> dict[str, Any]:
    """Parse the compose file (YAML merge keys resolved)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TypeError(f"{path}: not a mapping")
    return data


def references(text: str) -> list[Reference]:
    """Return every variable reference in `text` (`$$` escapes excluded)."""
    found = []
    for match in _REFERENCE.finditer(text):
        if match.group("escaped"):
            continue
        name = match.group("braced") or match.group("bare")
        found.append(Reference(name, match.group("op"), match.group("arg") or ""))
    return found


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Substitute `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR:+a}`, `$$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = variables.get(name)
        unset_or_empty = not value
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else value is None) else (value or "")
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else value is None:
                raise InterpolationError(f"{name}: {arg or 'required variable is missing'}")
            return value or ""
        if op in (":+", "+"):
            return arg if (not unset_or_empty if op == ":+" else value is not None) else ""
        return value or ""

    return _REFERENCE.sub(replace, text)


def interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    """Interpolate every string in a parsed compose document."""
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, variables) for key, value in node.items()}
    return node


@dataclass(frozen=True, slots=True)
class DotenvEntry:
    """One `NAME=value` line of a dotenv file, possibly commented out."""

    name: str
    value: str
    active: bool
    line: int


def dotenv_entries(text: str) -> list[DotenvEntry]:
    """Return the variable lines of a dotenv file, active and commented-out ones."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _DOTENV_LINE.match(raw.strip())
        if match:
            entries.append(
                DotenvEntry(
                    match.group("name"),
                    _unquote(match.group("value")),
                    match.group("comment") is None,
                    number,
                )
            )
    return entries


def read_dotenv(text: str) -> dict[str, str]:
    """Return the variables a dotenv file sets (its active lines)."""
    return {entry.name: entry.value for entry in dotenv_entries(text) if entry.active}


def _unquote(value: str) -> str:
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def service_environment(
    service: Mapping[str, Any], project_dir: Path, variables: Mapping[str, str]
) -> dict[str, str]:
    """Return the environment compose gives a service's container (env_file, then environment)."""
    env: dict[str, str] = {}
    for item in _as_list(service.get("env_file")):
        path, required = (
            (item, True) if isinstance(item, str) else (item["path"], item.get("required", True))
        )
        file = project_dir / interpolate(path, variables)
        if file.exists():
            env.update(read_dotenv(file.read_text(encoding="utf-8")))
        elif required:
            raise FileNotFoundError(f"env_file {file} is required")
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    for name, value in environment.items():
        env[name] = "" if value is None else interpolate(str(value), variables)
    return env


def command_override(service: Mapping[str, Any], key: str) -> list[str] | None:
    """Return a service's `command`/`entrypoint` override as argv, or None if absent."""
    value = service.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list (exec form), got {value!r}")
    return [str(item) for item in value]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
