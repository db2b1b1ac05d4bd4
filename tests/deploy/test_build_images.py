"""`make images` (deploy/docker/build_images.py): the commands it runs, its tags, its errors.

There is no Docker engine where these tests run, so the commands are checked as the dry run
prints them (DRY_RUN=1), and the real run is driven against a stand-in `docker` program (a
shell script that records its arguments) to prove it executes exactly what the dry run
printed. The script always runs as a separate process, as `make images` starts it.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from authara_contract import VERSION
from tests.deploy import kustomize
from tests.deploy.compose import interpolate, load_compose
from tests.deploy.dockerfile import pairs, parse_dockerfile, substitute
from tests.deploy.layout import (
    COMPOSE_FILE,
    DOCKER_DIR,
    K8S_BASE,
    K8S_DIR,
    PRODUCT_IMAGES,
    REPO_ROOT,
    ImageSpec,
)

SCRIPT: Final = DOCKER_DIR / "build_images.py"
REVISION: Final = "0123456789abcdef0123456789abcdef01234567"
# The registry the production overlay's example names (its comment says so).
OVERLAY_REGISTRY: Final = "registry.example.com/authara"
_SETTINGS: Final = (
    "REGISTRY",
    "PUSH",
    "DRY_RUN",
    "VCS_REF",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_BUILDKIT",
)

FAKE_DOCKER: Final = """#!/bin/sh
# Stands in for the docker CLI: records each call, answers like a working engine unless told.
printf '%s\\n' "DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-} $*" >> "$FAKE_DOCKER_LOG"
case "$1" in
  version)
    if [ -n "${FAKE_DOCKER_NO_DAEMON:-}" ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." \\
        "Is the docker daemon running?" >&2
      exit 1
    fi
    echo 28.2.2 ;;
  buildx)
    if [ -n "${FAKE_DOCKER_NO_BUILDX:-}" ]; then
      echo "docker: unknown command: docker buildx" >&2
      exit 1
    fi ;;
  build)
    if [ -n "${FAKE_DOCKER_FAIL_ON:-}" ]; then
      case "$*" in *"$FAKE_DOCKER_FAIL_ON"*) echo "build failed" >&2; exit 3 ;; esac
    fi ;;
esac
exit 0
"""


@dataclass(frozen=True, slots=True)
class Build:
    """One `docker build` line of the dry run, taken apart."""

    env: dict[str, str]
    dockerfile: Path
    build_args: dict[str, str]
    tags: list[str]
    context: Path


def _environment(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SETTINGS}
    env["VCS_REF"] = REVISION
    return env | settings


def run_script(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run the script as `make images` does, with these environment settings."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=_environment(**settings),
        timeout=60,
        check=False,
    )


def dry_run(**settings: str) -> tuple[list[list[str]], list[str]]:
    """Return the dry run's command lines (split) and its comment lines."""
    done = run_script(DRY_RUN="1", **settings)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    commands = [shlex.split(line) for line in lines if not line.startswith("#")]
    return commands, [line for line in lines if line.startswith("#")]


def parse_build(words: list[str]) -> Build:
    """Take a `KEY=value ... docker build ... CONTEXT` line apart (the options it uses)."""
    env = {}
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[:2] == ["docker", "build"], words
    options, context = words[2:-1], Path(words[-1])
    dockerfile, build_args, tags = None, {}, []
    for flag, value in zip(options[::2], options[1::2], strict=True):
        if flag == "--file":
            dockerfile = Path(value)
        elif flag == "--build-arg":
            key, _, item = value.partition("=")
            build_args[key] = item
        elif flag == "--tag":
            tags.append(value)
        else:
            pytest.fail(f"unexpected option {flag}")
    assert dockerfile is not None, words
    return Build(env, dockerfile, build_args, tags, context)


def builds(commands: list[list[str]]) -> list[Build]:
    """Return the `docker build` commands, taken apart."""
    return [parse_build(list(words)) for words in commands if "build" in words[:3]]


def pushes(commands: list[list[str]]) -> list[str]:
    """Return the tags the `docker push` commands push, in order."""
    return [words[2] for words in commands if words[:2] == ["docker", "push"]]


def expected_tags(registry: str, spec: ImageSpec) -> list[str]:
    prefix = f"{registry}/" if registry else ""
    return [f"{prefix}{spec.image}:{VERSION}", f"{prefix}{spec.image}:latest"]


def one_line_error(done: subprocess.CompletedProcess[str], *, after: int = 0) -> str:
    """Assert the run failed with one `build-images: ...` line and no traceback.

    `after` lines of docker's own complaints may come before it.
    """
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == after + 1, done.stderr
    assert lines[-1].startswith("build-images: "), lines[-1]
    return lines[-1]


# -- the dry run -----------------------------------------------------------------------------


def test_the_dry_run_builds_each_product_image_from_its_dockerfile_at_the_repository_root() -> None:
    commands, _comments = dry_run(REGISTRY="ghcr.io/acme")
    found = builds(commands)

    assert len(commands) == len(found) == len(PRODUCT_IMAGES)
    assert [build.dockerfile for build in found] == [spec.dockerfile for spec in PRODUCT_IMAGES]
    for build, spec in zip(found, PRODUCT_IMAGES, strict=True):
        assert build.dockerfile.is_file()
        assert build.context == REPO_ROOT
        assert build.env == {"DOCKER_BUILDKIT": "1"}
        assert build.build_args == {"AUTHARA_VERSION": VERSION, "VCS_REF": REVISION}
        assert build.tags == expected_tags("ghcr.io/acme", spec)


def test_without_push_the_dry_run_only_names_the_push_commands() -> None:
    commands, comments = dry_run(REGISTRY="ghcr.io/acme")
    tags = [tag for spec in PRODUCT_IMAGES for tag in expected_tags("ghcr.io/acme", spec)]

    assert pushes(commands) == []
    assert [line.strip("# ") for line in comments if "docker push" in line] == [
        f"docker push {tag}" for tag in tags
    ]


def test_with_push_every_tag_is_pushed_after_the_builds() -> None:
    commands, _comments = dry_run(REGISTRY="ghcr.io/acme", PUSH="1")
    tags = [tag for spec in PRODUCT_IMAGES for tag in expected_tags("ghcr.io/acme", spec)]

    assert pushes(commands) == tags
    assert len(builds(commands[: len(PRODUCT_IMAGES)])) == len(PRODUCT_IMAGES)


@pytest.mark.parametrize(
    ("registry", "prefix"),
    [
        ("", ""),
        ("ghcr.io/acme/", "ghcr.io/acme"),
        ("localhost:5000", "localhost:5000"),
        ("acme", "acme"),
        ("registry.example.com:8443/team/sub-group", "registry.example.com:8443/team/sub-group"),
    ],
)
def test_the_registry_prefixes_every_tag(registry: str, prefix: str) -> None:
    commands, _comments = dry_run(REGISTRY=registry)

    assert [build.tags for build in builds(commands)] == [
        expected_tags(prefix, spec) for spec in PRODUCT_IMAGES
    ]


def test_options_work_like_the_environment() -> None:
    by_options = run_script("--dry-run", "--push", "--registry", "ghcr.io/acme")
    by_env = run_script(DRY_RUN="1", PUSH="1", REGISTRY="ghcr.io/acme")

    assert by_options.returncode == by_env.returncode == 0
    assert by_options.stdout == by_env.stdout


def test_make_images_passes_its_variables_to_the_script() -> None:
    expected = run_script(DRY_RUN="1", PUSH="1", REGISTRY="ghcr.io/acme").stdout
    make = ["make", "--no-print-directory", "-s", "-C", str(REPO_ROOT), "images"]

    on_command_line = subprocess.run(
        [*make, "DRY_RUN=1", "PUSH=1", "REGISTRY=ghcr.io/acme"],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=60,
        check=False,
    )
    from_environment = subprocess.run(
        [*make, "DRY_RUN=1", "PUSH=1"],
        capture_output=True,
        text=True,
        env=_environment(REGISTRY="ghcr.io/acme"),
        timeout=60,
        check=False,
    )

    assert on_command_line.returncode == 0, on_command_line.stderr
    assert on_command_line.stdout == expected
    assert from_environment.returncode == 0, from_environment.stderr
    assert from_environment.stdout == expected


def test_the_revision_is_the_checkout_commit_unless_vcs_ref_is_given() -> None:
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run"],
        capture_output=True,
        text=True,
        env={key: value for key, value in _environment().items() if key != "VCS_REF"},
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    found = builds([shlex.split(line) for line in done.stdout.splitlines() if line[:1] != "#"])
    assert {build.build_args["VCS_REF"] for build in found} == {head}


# -- consistency with the Dockerfiles, compose and the manifests -----------------------------


def _labels(spec: ImageSpec, build_args: dict[str, str]) -> dict[str, str]:
    """Return the final stage's labels as `docker build` with these build args sets them."""
    final = parse_dockerfile(spec.dockerfile).final
    args = {}
    for arg in final.all("ARG"):
        name, _, default = arg.value.strip().partition("=")
        args[name] = build_args.get(name, default)
    labels: dict[str, str] = {}
    for label in final.all("LABEL"):
        labels |= {key: substitute(value, args) for key, value in pairs(label.value).items()}
    return labels


@pytest.mark.parametrize("spec", PRODUCT_IMAGES, ids=lambda spec: spec.name)
def test_each_image_reports_the_version_and_revision_it_was_built_with(spec: ImageSpec) -> None:
    commands, _comments = dry_run()
    (build,) = [build for build in builds(commands) if build.dockerfile == spec.dockerfile]

    labels = _labels(spec, build.build_args)
    other = _labels(spec, build.build_args | {"AUTHARA_VERSION": "9.9.9", "VCS_REF": "abc"})

    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.revision"] == REVISION
    # Built from the build arguments, not written into the Dockerfile.
    assert other["org.opencontainers.image.version"] == "9.9.9"
    assert other["org.opencontainers.image.revision"] == "abc"


def test_without_a_registry_the_tags_are_the_ones_compose_runs() -> None:
    commands, _comments = dry_run()
    built = {tag for build in builds(commands) for tag in build.tags}
    services = load_compose(COMPOSE_FILE)["services"]
    product_names = {spec.image for spec in PRODUCT_IMAGES}
    compose_images = {
        interpolate(service["image"], {})
        for service in services.values()
        if service["image"].split(":")[0] in product_names
    }

    assert {image.split(":")[0] for image in compose_images} == product_names
    assert compose_images <= built


def test_the_kubernetes_manifests_run_tags_make_images_builds() -> None:
    base_commands, _comments = dry_run()
    overlay_commands, _comments = dry_run(REGISTRY=OVERLAY_REGISTRY)

    for directory, commands in [
        (K8S_BASE, base_commands),
        (K8S_DIR / "overlays" / "production", overlay_commands),
    ]:
        built = {tag for build in builds(commands) for tag in build.tags}
        used = {
            container["image"]
            for resource in kustomize.render(directory)
            for container in kustomize.containers(resource)
        }
        assert used, directory
        assert used <= built, f"{directory.name} runs images make images does not build"


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"REGISTRY": "GHCR.io/Acme"}, "REGISTRY must look like host[:port]/path in lower case"),
        ({"REGISTRY": "https://ghcr.io/acme"}, "without a scheme"),
        ({"REGISTRY": "ghcr.io/ac me"}, "REGISTRY must look like"),
        ({"REGISTRY": "ghcr.io//acme"}, "REGISTRY must look like"),
        ({"DRY_RUN": "maybe"}, "DRY_RUN must be 1 or 0"),
        ({"PUSH": "2", "REGISTRY": "ghcr.io/acme"}, "PUSH must be 1 or 0"),
        ({"PUSH": "1"}, "PUSH=1 needs REGISTRY"),
    ],
    ids=lambda value: str(value),
)
def test_bad_settings_are_refused_in_one_line(settings: dict[str, str], message: str) -> None:
    done = run_script(**({"DRY_RUN": "1"} | settings))

    assert message in one_line_error(done)
    assert done.returncode == 1
    assert done.stdout == ""


def test_without_docker_on_path_the_error_says_so(tmp_path: Path) -> None:
    done = run_script(PATH=str(tmp_path))

    line = one_line_error(done)
    assert "docker was not found on PATH" in line
    assert "DRY_RUN=1" in line
    assert done.returncode == 1


def test_with_this_machines_docker_and_no_daemon_the_error_is_one_line(tmp_path: Path) -> None:
    # The docker CLI if this machine has one (then the daemon is unreachable), else none.
    done = run_script(DOCKER_HOST=f"unix://{tmp_path}/no-such.sock")

    line = one_line_error(done)
    assert "cannot reach the Docker daemon" in line or "docker was not found on PATH" in line
    assert "DRY_RUN=1" in line
    assert done.returncode == 1


# -- the real run, against a stand-in docker -------------------------------------------------


@pytest.fixture
def fake_docker(tmp_path: Path) -> Path:
    """Put a recording `docker` first on PATH; return its log file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "docker"
    program.write_text(FAKE_DOCKER, encoding="utf-8")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return tmp_path / "docker.log"


def _fake(log: Path, **settings: str) -> dict[str, str]:
    path = f"{log.parent / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return {"PATH": path, "FAKE_DOCKER_LOG": str(log), **settings}


def test_a_real_run_executes_exactly_the_dry_run_commands(fake_docker: Path) -> None:
    commands, _comments = dry_run(REGISTRY="ghcr.io/acme", PUSH="1")

    done = run_script(**_fake(fake_docker, REGISTRY="ghcr.io/acme", PUSH="1"))

    assert done.returncode == 0, done.stderr
    calls = fake_docker.read_text(encoding="utf-8").splitlines()
    assert calls[:2] == [
        "DOCKER_BUILDKIT= version --format {{.Server.Version}}",
        "DOCKER_BUILDKIT= buildx version",
    ]
    expected = [
        f"DOCKER_BUILDKIT={'1' if words[1] == 'build' else ''} {shlex.join(words[1:])}"
        for words in (
            command[1:] if command[0].startswith("DOCKER_BUILDKIT=") else command
            for command in commands
        )
    ]
    assert calls[2:] == expected
    assert [line[2:] for line in done.stdout.splitlines() if line.startswith("+ ")] == [
        shlex.join(command) for command in commands
    ]


def test_a_real_run_without_push_prints_the_push_commands(fake_docker: Path) -> None:
    done = run_script(**_fake(fake_docker, REGISTRY="ghcr.io/acme"))

    assert done.returncode == 0, done.stderr
    assert " push " not in fake_docker.read_text(encoding="utf-8")
    printed = [line.strip() for line in done.stdout.splitlines() if "docker push" in line]
    assert printed == [
        f"docker push {tag}"
        for spec in PRODUCT_IMAGES
        for tag in expected_tags("ghcr.io/acme", spec)
    ]


def test_a_failed_build_stops_the_run_with_dockers_status(fake_docker: Path) -> None:
    done = run_script(**_fake(fake_docker, FAKE_DOCKER_FAIL_ON="gateway.Dockerfile"))

    line = one_line_error(done, after=1)
    assert line == (
        "build-images: building authara-gateway from deploy/docker/gateway.Dockerfile failed "
        "with exit status 3 (docker's output is above)"
    )
    assert done.returncode == 3
    calls = fake_docker.read_text(encoding="utf-8")
    assert "core.Dockerfile" in calls
    assert "migrations.Dockerfile" not in calls


def test_an_unreachable_daemon_is_one_line(fake_docker: Path) -> None:
    done = run_script(**_fake(fake_docker, FAKE_DOCKER_NO_DAEMON="1"))

    line = one_line_error(done)
    assert "cannot reach the Docker daemon (Cannot connect to the Docker daemon" in line
    assert " build " not in fake_docker.read_text(encoding="utf-8")


def test_a_docker_without_buildx_is_refused_before_building(fake_docker: Path) -> None:
    done = run_script(**_fake(fake_docker, FAKE_DOCKER_NO_BUILDX="1"))

    assert "docker buildx is missing" in one_line_error(done)
    assert " build " not in fake_docker.read_text(encoding="utf-8")
