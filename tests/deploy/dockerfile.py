"""Read a Dockerfile into stages of instructions (dockerfile-parse does the lexing).

Also: exec-form arguments, `key=value` pairs, Dockerfile variable substitution, and the
`.dockerignore` matcher the image rehearsal copies the build context with.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from dockerfile_parse import DockerfileParser

_VARIABLE: Final = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_]\w*)(?::(?P<op>[-+])(?P<word>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


class DockerfileError(ValueError):
    """A Dockerfile uses something these tools do not understand."""


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction, continuation lines joined."""

    keyword: str
    value: str
    line: int

    def split_flags(self) -> tuple[dict[str, str], str]:
        """Split leading `--flag=value` options (RUN, COPY, HEALTHCHECK) from the arguments."""
        flags: dict[str, str] = {}
        rest = self.value.strip()
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            name, _, value = token[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        return flags, rest

    def __str__(self) -> str:
        return f"line {self.line}: {self.keyword} {self.value}"


@dataclass(slots=True)
class Stage:
    """One `FROM` and the instructions up to the next."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Return every instruction with this keyword, in order."""
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        """Return the last instruction with this keyword (the one that takes effect)."""
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile."""

    path: Path
    stages: tuple[Stage, ...]

    @property
    def final(self) -> Stage:
        """Return the stage the image is made of."""
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        """Return the stage called `name`."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise DockerfileError(f"{self.path.name}: no stage named {name!r}")


def parse_dockerfile(path: Path) -> Dockerfile:
    """Parse `path`; instructions before the first FROM other than ARG are an error."""
    parser = DockerfileParser(path=str(path), env_replace=False)
    stages: list[Stage] = []
    for item in sorted(parser.structure, key=lambda entry: entry["startline"]):
        keyword = item["instruction"].upper()
        if keyword == "COMMENT":
            continue
        instruction = Instruction(keyword, item["value"], item["startline"] + 1)
        if keyword == "FROM":
            stages.append(_stage(instruction))
        elif stages:
            stages[-1].instructions.append(instruction)
        elif keyword != "ARG":
            raise DockerfileError(f"{path.name}: {instruction} comes before any FROM")
    if not stages:
        raise DockerfileError(f"{path.name}: no FROM")
    return Dockerfile(path, tuple(stages))


def _stage(instruction: Instruction) -> Stage:
    flags, rest = instruction.split_flags()
    words = rest.split()
    if flags or len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
        raise DockerfileError(f"unsupported FROM: {instruction}")
    return Stage(base=words[0], name=words[2] if len(words) == 3 else None)


def exec_form(value: str) -> list[str] | None:
    """Return the argv of an exec-form (JSON array) argument, or None for shell form."""
    text = value.strip()
    if not text.startswith("["):
        return None
    try:
        argv = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv):
        return None
    return argv


def healthcheck_command(instruction: Instruction) -> tuple[dict[str, str], list[str] | None]:
    """Return a HEALTHCHECK's options and its exec-form command (None: shell form or NONE)."""
    flags, rest = instruction.split_flags()
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        return flags, None
    return flags, exec_form(command)


def pairs(value: str) -> dict[str, str]:
    """Parse `key=value key2="v 2"` (ENV, LABEL, ARG); the legacy `ENV key value` is refused."""
    result: dict[str, str] = {}
    for token in shlex.split(value, posix=True):
        key, sep, item = token.partition("=")
        if not sep:
            raise DockerfileError(f"expected key=value, got {token!r} in {value!r}")
        result[key] = item
    return result


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Apply Dockerfile substitution: `$X`, `${X}`, `${X:-word}`, `${X:+word}`."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        value = variables.get(name, "")
        if match.group("op") == "-":
            return value or match.group("word")
        if match.group("op") == "+":
            return match.group("word") if value else ""
        return value

    return _VARIABLE.sub(replace, text)


class DockerIgnore:
    """The `.dockerignore` rules: Go `filepath.Match` patterns plus `**`, `!` re-includes."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[bool, str, re.Pattern[str]]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = str(PurePosixPath("/" + line.removeprefix("!").strip())).lstrip("/")
            self.rules.append((include, pattern, re.compile(_pattern_regex(pattern))))

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        """Read a `.dockerignore` file (a missing file ignores nothing)."""
        return cls(path.read_text(encoding="utf-8").splitlines() if path.exists() else [])

    def excluded(self, relative: str) -> bool:
        """Tell whether a context-relative path (or one of its parents) is left out."""
        parts = PurePosixPath(relative).parts
        prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        verdict = False
        for include, _pattern, regex in self.rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                verdict = not include
        return verdict

    def files(self, context: Path, source: str) -> Iterator[Path]:
        """Yield the files under `context/source` that make it into the build context."""
        top = context / source
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in candidates:
            if path.is_file() and not self.excluded(path.relative_to(context).as_posix()):
                yield path


def _pattern_regex(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", index)
            out.append(pattern[index : end + 1])
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)
