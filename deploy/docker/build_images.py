"""Build and tag Authara's three images (core, gateway, migrations); optionally push them.

    make images                              # authara-core:0.1.0 and :latest, ...
    make images REGISTRY=ghcr.io/acme        # ghcr.io/acme/authara-core:0.1.0, ...
    make images REGISTRY=ghcr.io/acme PUSH=1 # ... and push every tag
    make images DRY_RUN=1                    # print the exact commands, run nothing

The tag is the version core reports at /auth/version (`VERSION` in
shared/authara_contract/__init__.py) plus `latest`; the version also goes into each image's
`org.opencontainers.image.version` label through the `AUTHARA_VERSION` build argument, and the
commit into `org.opencontainers.image.revision` through `VCS_REF`. The build context is the
repository root, as for `docker compose build`. Without REGISTRY the names are the ones
deploy/compose/docker-compose.yml runs, so compose uses these images as they are.

Settings come from the environment (REGISTRY, PUSH, DRY_RUN, VCS_REF) or the options below.
Only the standard library is used: no virtualenv is needed. Errors are one line on stderr
and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
CONTRACT_INIT: Final = REPO_ROOT / "shared" / "authara_contract" / "__init__.py"
DOCKER_DIR: Final = REPO_ROOT / "deploy" / "docker"
# The product images; the demo app (demo.Dockerfile) stands in for your app and is not one.
IMAGES: Final = ("core", "gateway", "migrations")
VERSION_ARG: Final = "AUTHARA_VERSION"
REVISION_ARG: Final = "VCS_REF"
# The Dockerfiles use `RUN --mount=type=cache`, which needs BuildKit.
BUILD_ENV: Final = (("DOCKER_BUILDKIT", "1"),)
PROG: Final = "build-images"
DOCKER_CHECK_TIMEOUT_S: Final = 30.0
DRY_RUN_HINT: Final = "run `make images DRY_RUN=1` to print the commands instead"

# Docker's reference grammar: a host (optionally with a port) or a path component first,
# then lower-case path components. Upper case is refused: repository names are lower case.
_HOST: Final = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]+)?"
_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY: Final = re.compile(rf"{_HOST}(?:/{_COMPONENT})*")
_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


class BuildError(Exception):
    """A problem to report in one line, with the exit status to leave with."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Command:
    """One docker command line and the environment variables it needs."""

    what: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    def shell(self) -> str:
        """Return the command as one POSIX shell line (`KEY=value docker ...`)."""
        return shlex.join([*(f"{key}={value}" for key, value in self.env), *self.argv])


@dataclass(frozen=True, slots=True)
class Plan:
    """Every command a run makes, in order, and the pushes it leaves to the operator."""

    version: str
    revision: str
    builds: tuple[Command, ...]
    pushes: tuple[Command, ...]
    tags: tuple[str, ...]
    push: bool

    @property
    def commands(self) -> tuple[Command, ...]:
        """Return the commands a real run executes."""
        return self.builds + (self.pushes if self.push else ())


def read_version(path: Path = CONTRACT_INIT) -> str:
    """Return the `VERSION = "..."` literal of the contract package, without importing it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError) as exc:
        raise BuildError(f"cannot read the version from {path}: {exc}") from exc
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == ["VERSION"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            version = node.value.value
            if not _TAG.fullmatch(version):
                raise BuildError(f"VERSION {version!r} in {path} is not a valid image tag")
            return version
    raise BuildError(f"no VERSION = '...' string in {path}")


def normalize_registry(raw: str) -> str:
    """Return the registry prefix without a trailing slash ('' for none), or refuse it."""
    registry = raw.strip().rstrip("/")
    if not registry:
        return ""
    if "://" in registry:
        raise BuildError(
            f"REGISTRY must be a name prefix without a scheme, e.g. ghcr.io/acme, got {raw!r}"
        )
    if not _REGISTRY.fullmatch(registry):
        raise BuildError(
            "REGISTRY must look like host[:port]/path in lower case (e.g. ghcr.io/acme or "
            f"localhost:5000), got {raw!r}"
        )
    return registry


def parse_flag(name: str, raw: str | None) -> bool:
    """Read a yes/no setting such as PUSH=1 or DRY_RUN=true."""
    value = (raw or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BuildError(f"{name} must be 1 or 0 (true/false, yes/no), got {raw!r}")


def image_name(registry: str, image: str) -> str:
    """Return `registry/authara-<image>` (just `authara-<image>` without a registry)."""
    name = f"authara-{image}"
    return f"{registry}/{name}" if registry else name


def make_plan(*, registry: str, version: str, revision: str, push: bool) -> Plan:
    """Return the build commands (one per image, two tags each) and the push commands."""
    if push and not registry:
        raise BuildError(
            "PUSH=1 needs REGISTRY (e.g. REGISTRY=ghcr.io/acme): without it `docker push "
            "authara-core` means Docker Hub's official library, which is not yours"
        )
    builds: list[Command] = []
    tags: list[str] = []
    for image in IMAGES:
        name = image_name(registry, image)
        image_tags = (f"{name}:{version}", f"{name}:latest")
        dockerfile = DOCKER_DIR / f"{image}.Dockerfile"
        argv = (
            "docker",
            "build",
            "--file",
            str(dockerfile),
            "--build-arg",
            f"{VERSION_ARG}={version}",
            "--build-arg",
            f"{REVISION_ARG}={revision}",
            *(part for tag in image_tags for part in ("--tag", tag)),
            str(REPO_ROOT),
        )
        what = f"building {name} from {dockerfile.relative_to(REPO_ROOT)}"
        builds.append(Command(what, argv, BUILD_ENV))
        tags.extend(image_tags)
    pushes = tuple(Command(f"pushing {tag}", ("docker", "push", tag)) for tag in tags)
    return Plan(version, revision, tuple(builds), pushes, tuple(tags), push)


def git_revision(environ: Mapping[str, str]) -> str:
    """Return VCS_REF from the environment, else the checkout's commit, else 'unknown'."""
    given = environ.get(REVISION_ARG, "").strip()
    if given:
        return given
    git = shutil.which("git", path=environ.get("PATH"))
    if git is None:
        return "unknown"
    try:
        done = subprocess.run(
            [git, "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else "unknown"


def check_docker(environ: Mapping[str, str]) -> str:
    """Return the docker binary once it, its daemon and buildx answer; refuse in one line."""
    docker = shutil.which("docker", path=environ.get("PATH"))
    if docker is None:
        raise BuildError(f"docker was not found on PATH; install Docker or {DRY_RUN_HINT}")
    daemon = _run_quietly([docker, "version", "--format", "{{.Server.Version}}"], environ)
    if daemon is not None:
        raise BuildError(f"cannot reach the Docker daemon ({daemon}); start it or {DRY_RUN_HINT}")
    buildx = _run_quietly([docker, "buildx", "version"], environ)
    if buildx is not None:
        raise BuildError(
            f"docker buildx is missing ({buildx}); the Dockerfiles need BuildKit "
            "(RUN --mount): install the Docker buildx plugin"
        )
    return docker


def _run_quietly(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """Run a check; return None when it succeeds, else its first line of complaint."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env=dict(environ),
            timeout=DOCKER_CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`{shlex.join(argv[1:])}` took longer than {DOCKER_CHECK_TIMEOUT_S:.0f}s"
    except OSError as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return lines[0] if lines else f"exit status {done.returncode}"


def print_dry_run(plan: Plan, registry: str) -> None:
    """Print the commands as a shell script: what a real run executes, then what is left."""
    print(f"# Authara {plan.version} images (revision {plan.revision}); dry run: nothing runs.")
    for command in plan.commands:
        print(command.shell())
    if not plan.push:
        print(_next_steps(plan, registry, comment="# "))


def _next_steps(plan: Plan, registry: str, *, comment: str) -> str:
    if not registry:
        lines = [
            "These names are the ones deploy/compose runs. To publish the images, set REGISTRY "
            "(e.g. REGISTRY=ghcr.io/acme) so the tags name your registry, then push them."
        ]
    else:
        lines = ["Next, push them (or run `make images PUSH=1`):"]
        lines += [f"  {command.shell()}" for command in plan.pushes]
    return "\n".join(f"{comment}{line}" for line in lines)


def run(plan: Plan, registry: str, docker: str, environ: Mapping[str, str]) -> None:
    """Run every command of the plan in order, stopping at the first that fails."""
    for command in plan.commands:
        print(f"+ {command.shell()}", flush=True)
        argv = [docker, *command.argv[1:]]
        env = {**environ, **dict(command.env)}
        status = subprocess.run(argv, env=env, check=False).returncode
        if status != 0:
            # A command killed by a signal reports -N; a shell would say 128 + N.
            exit_status = status if status > 0 else 128 - status
            raise BuildError(
                f"{command.what} failed with exit status {status} (docker's output is above)",
                exit_status,
            )
    print(f"Built {', '.join(plan.tags)}.")
    if not plan.push:
        print(_next_steps(plan, registry, comment=""))


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build and tag the core, gateway and migrations images.",
    )
    parser.add_argument("--registry", help="name prefix, e.g. ghcr.io/acme (env REGISTRY)")
    parser.add_argument("--push", action="store_true", help="push every tag (env PUSH=1)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the commands only (env DRY_RUN=1)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Build (or print) the images; return the exit status."""
    env = os.environ if environ is None else environ
    options = _arguments(argv)
    try:
        registry = normalize_registry(
            options.registry if options.registry is not None else env.get("REGISTRY", "")
        )
        push = options.push or parse_flag("PUSH", env.get("PUSH"))
        dry_run = options.dry_run or parse_flag("DRY_RUN", env.get("DRY_RUN"))
        plan = make_plan(
            registry=registry, version=read_version(), revision=git_revision(env), push=push
        )
        if dry_run:
            print_dry_run(plan, registry)
        else:
            run(plan, registry, check_docker(env), env)
    except BuildError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
