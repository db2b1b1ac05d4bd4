"""Rehearse an image build without a Docker engine: run the Dockerfile's own build steps.

Every path the Dockerfile names (WORKDIR, COPY destinations, absolute paths in ENV) is moved
under a per-image `root` folder; `COPY` copies from the build context through `.dockerignore`;
the build stage's `RUN` commands run unchanged in `/bin/sh -c` with the stage's environment and
the host's Python standing in for the base image's. At the final stage everything the build
stage made is removed except what `COPY --from` keeps, which must keep its absolute path
(a virtualenv's scripts name their interpreter by it). What comes out is the image's runtime
environment, entry point, command and health check, ready to start as a process.

What cannot be rehearsed is refused rather than skipped: RUN commands naming absolute paths
(they would touch this machine), mounts other than a cache, final-stage RUNs other than
creating the runtime user, and unknown instructions.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .dockerfile import (
    Dockerfile,
    DockerfileError,
    DockerIgnore,
    Instruction,
    Stage,
    exec_form,
    healthcheck_command,
    pairs,
    substitute,
)

# The official python image's runtime PATH and locale; its `python` is the host's here.
BASE_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV: Final = {"LANG": "C.UTF-8"}
# Host settings a build may need to reach the package index (Docker passes the proxy ones on as
# predefined build arguments; a pip mirror is this machine's business, not the image's).
NETWORK_VARS: Final = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "PIP_DEFAULT_TIMEOUT",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
RUN_TIMEOUT_S: Final = 600
_ABSOLUTE_IN_SHELL: Final = re.compile(r"(?:^|[\s\"'=(])(/[A-Za-z0-9_.-][^\s\"';&|)]*)")
_USER_SETUP: Final = re.compile(r"^(?:groupadd|useradd|addgroup|adduser)\s")


class RehearsalError(RuntimeError):
    """The build failed, or asks for something a rehearsal cannot do faithfully."""


@dataclass(frozen=True, slots=True)
class Image:
    """What a rehearsed image runs: its re-rooted files, environment and commands."""

    name: str
    root: Path
    env: dict[str, str]
    workdir: Path
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: list[str] | None
    user: str | None
    exposed: tuple[int, ...]
    labels: dict[str, str]

    def argv(
        self, entrypoint: list[str] | None = None, command: list[str] | None = None
    ) -> list[str]:
        """Return what `docker run` executes, with compose's optional overrides."""
        head = self.entrypoint if entrypoint is None else entrypoint
        tail = self.cmd if command is None else command
        argv = [*head, *tail]
        if not argv:
            raise RehearsalError(f"{self.name}: the image has neither ENTRYPOINT nor CMD")
        return [str(self.resolve(argv[0])), *argv[1:]]

    def resolve(self, program: str) -> Path:
        """Find `program` on the image's PATH; it must be something the build installed."""
        found = shutil.which(program, path=self.env.get("PATH", ""))
        if found is None:
            raise RehearsalError(f"{self.name}: {program!r} is not on the image's PATH")
        path = Path(found)
        if not path.is_relative_to(self.root):
            raise RehearsalError(f"{self.name}: {program!r} resolves outside the image: {path}")
        return path


@dataclass
class _StageState:
    env: dict[str, str]
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"


class Rehearsal:
    """Run one Dockerfile's stages into `root`."""

    def __init__(
        self,
        dockerfile: Dockerfile,
        *,
        context: Path,
        root: Path,
        python: Path,
        cache_dir: Path,
        host_environ: Mapping[str, str],
    ) -> None:
        self._dockerfile = dockerfile
        self._context = context
        self._root = root
        self._cache_dir = cache_dir
        self._ignore = DockerIgnore.load(context / ".dockerignore")
        shim = root.parent / f"{root.name}-python"
        shim.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            link = shim / name
            if not link.exists():
                link.symlink_to(python)
        self._base_env = {
            **BASE_ENV,
            "PATH": f"{shim}:{BASE_PATH}",
            **{name: host_environ[name] for name in NETWORK_VARS if name in host_environ},
        }

    def run(self, name: str) -> Image:
        """Build every stage and return the final stage as a runnable image."""
        *build_stages, final = self._dockerfile.stages
        for stage in build_stages:
            if stage.base in {other.name for other in self._dockerfile.stages}:
                raise RehearsalError(f"{stage.base}: stages built on stages are not rehearsed")
            self._build(stage)
        return self._finish(name, final)

    # -- build stages ------------------------------------------------------------------------

    def _build(self, stage: Stage) -> None:
        state = _StageState(env={**self._base_env, "HOME": str(self._reroot("/root"))})
        for instruction in stage.instructions:
            handler = _BUILD_HANDLERS.get(instruction.keyword)
            if handler is None:
                raise RehearsalError(f"cannot rehearse in a build stage: {instruction}")
            handler(self, state, instruction)

    def _env(self, state: _StageState, instruction: Instruction) -> None:
        for key, value in pairs(instruction.value).items():
            state.env[key] = self._env_value(value, state)

    def _arg(self, state: _StageState, instruction: Instruction) -> None:
        for token in instruction.value.split():
            key, _, default = token.partition("=")
            state.args[key] = default

    def _workdir(self, state: _StageState, instruction: Instruction) -> None:
        path = substitute(instruction.value.strip(), {**state.args, **state.env})
        state.workdir = posixpath.normpath(posixpath.join(state.workdir, path))
        self._reroot(state.workdir).mkdir(parents=True, exist_ok=True)

    def _copy(self, state: _StageState, instruction: Instruction) -> None:
        flags, rest = instruction.split_flags()
        if set(flags) - {"chown", "chmod", "link"}:
            raise RehearsalError(f"cannot rehearse COPY flags: {instruction}")
        if "from" in flags or exec_form(rest) is not None:
            raise RehearsalError(f"cannot rehearse: {instruction}")
        *sources, target = rest.split()
        destination = self._reroot(posixpath.join(state.workdir, target))
        for source in sources:
            self._copy_source(source, destination, many=len(sources) > 1 or target.endswith("/"))

    def _copy_source(self, source: str, destination: Path, *, many: bool) -> None:
        origin = (self._context / source).resolve()
        if not origin.is_relative_to(self._context.resolve()) or not origin.exists():
            raise RehearsalError(f"COPY source {source!r} is not in the build context")
        for path in self._ignore.files(self._context, source):
            if origin.is_dir():
                target = destination / path.relative_to(origin)
            else:
                target = destination / path.name if many else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)

    def _run(self, state: _StageState, instruction: Instruction) -> None:
        flags, command = instruction.split_flags()
        for name, value in flags.items():
            if name != "mount" or "type=cache" not in value.split(","):
                raise RehearsalError(f"cannot rehearse RUN --{name}={value}: {instruction}")
            self._cache_mount(value)
        argv = exec_form(command)
        if argv is None:
            for match in _ABSOLUTE_IN_SHELL.finditer(command):
                if match.group(1) != "/dev/null":
                    raise RehearsalError(
                        f"RUN names the absolute path {match.group(1)}; use an ENV variable "
                        f"so the rehearsal can move it: {instruction}"
                    )
            argv = ["/bin/sh", "-c", command]
        result = subprocess.run(
            argv,
            cwd=self._reroot(state.workdir),
            env=state.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise RehearsalError(
                f"{self._dockerfile.path.name} {instruction} failed with {result.returncode}:\n"
                + (result.stdout + result.stderr)[-4000:]
            )

    def _cache_mount(self, spec: str) -> None:
        options = dict(item.partition("=")[::2] for item in spec.split(","))
        target = options.get("target") or options.get("dst") or options.get("destination")
        if not target:
            raise RehearsalError(f"cache mount without a target: {spec}")
        # BuildKit shares a cache mount between builds by its id (default: the target path).
        shared = self._cache_dir / (options.get("id") or target).strip("/").replace("/", "_")
        shared.mkdir(parents=True, exist_ok=True)
        link = self._reroot(target)
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(shared, target_is_directory=True)

    # -- the final stage -------------------------------------------------------------------

    def _finish(self, name: str, stage: Stage) -> Image:
        kept = [self._kept_path(item) for item in stage.all("COPY")]
        self._prune(kept)
        state = _StageState(env={**self._base_env})
        labels: dict[str, str] = {}
        for instruction in stage.instructions:
            keyword = instruction.keyword
            if keyword == "ENV":
                self._env(state, instruction)
            elif keyword == "ARG":
                self._arg(state, instruction)
            elif keyword == "LABEL":
                variables = {**state.args, **state.env}
                labels |= {k: substitute(v, variables) for k, v in pairs(instruction.value).items()}
            elif keyword == "WORKDIR":
                self._workdir(state, instruction)
            elif keyword == "RUN":
                self._check_user_setup(instruction)
            elif keyword not in _FINAL_RECORDED:
                raise RehearsalError(f"cannot rehearse in the final stage: {instruction}")
        user = stage.last("USER")
        state.env.setdefault("HOME", str(self._reroot("/nonexistent")))
        return Image(
            name=name,
            root=self._root,
            env=state.env,
            workdir=self._reroot(state.workdir),
            entrypoint=_argv_of(stage.last("ENTRYPOINT")),
            cmd=_argv_of(stage.last("CMD")),
            healthcheck=_healthcheck_of(stage.last("HEALTHCHECK")),
            user=user.value.strip() if user else None,
            exposed=tuple(
                int(port.split("/")[0]) for e in stage.all("EXPOSE") for port in e.value.split()
            ),
            labels=labels,
        )

    def _kept_path(self, instruction: Instruction) -> Path:
        flags, rest = instruction.split_flags()
        parts = rest.split()
        stages = {stage.name for stage in self._dockerfile.stages[:-1]}
        if flags.get("from") not in stages or len(parts) != 2:
            raise RehearsalError(
                f"the final stage may only COPY --from a build stage: {instruction}"
            )
        source, target = (posixpath.normpath(part) for part in parts)
        if source != target:
            raise RehearsalError(
                f"COPY --from must keep the absolute path ({source} != {target}): {instruction}"
            )
        if not self._reroot(source).exists():
            raise RehearsalError(f"the build stage made no {source}: {instruction}")
        return self._reroot(source)

    def _prune(self, kept: list[Path]) -> None:
        for path in sorted(self._root.rglob("*"), reverse=True):
            if any(
                path == keep or path.is_relative_to(keep) or keep.is_relative_to(path)
                for keep in kept
            ):
                continue
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                path.rmdir()

    def _check_user_setup(self, instruction: Instruction) -> None:
        for command in instruction.value.split("&&"):
            if not _USER_SETUP.match(command.strip()):
                raise RehearsalError(
                    f"the final stage may only create the runtime user, not {command.strip()!r}"
                )

    # -- paths -----------------------------------------------------------------------------

    def _reroot(self, path: str) -> Path:
        normal = posixpath.normpath(path)
        if not normal.startswith("/"):
            raise DockerfileError(f"expected an absolute path, got {path!r}")
        return self._root / normal.lstrip("/")

    def _env_value(self, value: str, state: _StageState) -> str:
        # Literal absolute paths (`/opt/authara/bin` in `/opt/authara/bin:$PATH`) move under
        # the root; substituted variables already hold moved or host values.
        variables = {**state.args, **state.env}
        parts = [
            str(self._reroot(part))
            if part.startswith("/") and not part.startswith("//")
            else substitute(part, variables)
            for part in value.split(":")
        ]
        return ":".join(parts)


_BUILD_HANDLERS: Final = {
    "ENV": Rehearsal._env,
    "ARG": Rehearsal._arg,
    "WORKDIR": Rehearsal._workdir,
    "COPY": Rehearsal._copy,
    "RUN": Rehearsal._run,
    "LABEL": lambda _self, _state, _instruction: None,
}
_FINAL_RECORDED: Final = frozenset(
    {"COPY", "USER", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT", "CMD"}
)


def _argv_of(instruction: Instruction | None) -> list[str]:
    if instruction is None:
        return []
    argv = exec_form(instruction.value)
    if argv is None:
        raise RehearsalError(f"shell-form {instruction.keyword} is not rehearsed: {instruction}")
    return argv


def _healthcheck_of(instruction: Instruction | None) -> list[str] | None:
    if instruction is None:
        return None
    _options, argv = healthcheck_command(instruction)
    if argv is None:
        raise RehearsalError(f"only exec-form HEALTHCHECK CMD is rehearsed: {instruction}")
    return argv


def rehearse(
    dockerfile: Dockerfile,
    name: str,
    *,
    context: Path,
    workspace: Path,
    python: Path,
    cache_dir: Path,
    host_environ: Mapping[str, str] | None = None,
) -> Image:
    """Rehearse `dockerfile` in `workspace/<name>` and return the runnable image."""
    root = workspace / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rehearsal = Rehearsal(
        dockerfile,
        context=context,
        root=root,
        python=python,
        cache_dir=cache_dir,
        host_environ=os.environ if host_environ is None else host_environ,
    )
    return rehearsal.run(name)
