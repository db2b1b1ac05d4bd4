"""The Dockerfiles, parsed: multi-stage slim Python, only the service and the contract, non-root.

`dockerfile_problems` states every rule once; the real Dockerfiles must break none, and broken
copies of them must be caught with the rule they break.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Final

import pytest
from packaging.specifiers import SpecifierSet

from authara_contract import VERSION
from authara_contract.env import BY_NAME, parse_host_port
from tests.deploy import kustomize
from tests.deploy.dockerfile import (
    Dockerfile,
    DockerIgnore,
    Stage,
    exec_form,
    healthcheck_command,
    pairs,
    parse_dockerfile,
    substitute,
)
from tests.deploy.layout import (
    ALL_IMAGES,
    CORE,
    DEMO,
    DOCKERIGNORE,
    GATEWAY,
    K8S_BASE,
    MIGRATIONS,
    REPO_ROOT,
    ImageSpec,
)

BASE_IMAGE: Final = re.compile(r"^python:(?P<minor>3\.\d+)\.\d+-slim-(?:bookworm|trixie)$")
REQUIRED_LABELS: Final = ("title", "description", "version", "revision", "base.name")
COMMAND: Final = {CORE: ["serve"], GATEWAY: ["serve"], MIGRATIONS: ["up"], DEMO: []}
BIND_VARIABLE: Final = {CORE: "AUTHARA_BIND", GATEWAY: "GATEWAY_BIND"}
USER_SETUP: Final = re.compile(r"^(?:groupadd|useradd)\s")
COMPILERS: Final = re.compile(r"\b(?:gcc|g\+\+|cc|clang|make|build-essential|[\w.+-]+-dev)\b")
HEALTHCHECK_OPTIONS: Final = ("interval", "timeout", "start-period", "retries")
# Files a .dockerignore may leave out of a copied package folder.
DISPOSABLE: Final = re.compile(r"(?:^|/)(?:__pycache__|[^/]+\.egg-info)(?:/|$)|\.py[cod]$")


def _requires_python() -> SpecifierSet:
    spec = SpecifierSet()
    for pyproject in [
        REPO_ROOT / "shared" / "pyproject.toml",
        REPO_ROOT / "shared" / "runtime" / "pyproject.toml",
        *REPO_ROOT.glob("services/*/pyproject.toml"),
    ]:
        spec &= SpecifierSet(tomllib.loads(pyproject.read_text())["project"]["requires-python"])
    return spec


def _local_installs(stage: Stage) -> set[str]:
    """Return the local folders the build stage's `pip install` commands install."""
    installed: set[str] = set()
    for run in stage.all("RUN"):
        _flags, command = run.split_flags()
        for step in command.split("&&"):
            targets = _pip_install_targets(shlex.split(step))
            installed |= {
                word.removeprefix("./").rstrip("/") for word in targets if word.startswith("./")
            }
    return installed


def _pip_install_targets(words: list[str]) -> list[str]:
    """Return the requirements of a `pip install` command line (options use the `=` form)."""
    names = [word.rsplit("/", 1)[-1] for word in words]
    if "pip" not in names:
        return []
    arguments = [word for word in words[names.index("pip") + 1 :] if not word.startswith("-")]
    return arguments[1:] if arguments[:1] == ["install"] else []


def _user_id(user: str) -> int | None:
    uid = user.split(":")[0]
    return int(uid) if uid.isdigit() else None


def dockerfile_problems(dockerfile: Dockerfile, spec: ImageSpec) -> list[str]:
    """Return every rule of the image contract that `dockerfile` breaks."""
    problems: list[str] = []
    if len(dockerfile.stages) < 2:
        problems.append("not multi-stage: build in one stage, copy the virtualenv into a clean one")
    bases = {stage.base for stage in dockerfile.stages}
    for base in bases:
        match = BASE_IMAGE.match(base)
        if match is None:
            problems.append(
                f"FROM {base}: use the official python:X.Y.Z-slim-<debian> image, pinned"
            )
        elif match.group("minor") not in _requires_python():
            problems.append(
                f"FROM {base}: Python {match.group('minor')} is outside requires-python"
            )
    if len(bases) > 1:
        problems.append(f"every stage must start from the same base, got {sorted(bases)}")
    problems += _install_problems(dockerfile, spec)
    problems += _final_stage_problems(dockerfile, spec)
    return problems


def _install_problems(dockerfile: Dockerfile, spec: ImageSpec) -> list[str]:
    problems = []
    wanted_copies = {"shared", spec.package_dir}
    wanted_installs = {*spec.shared, spec.package_dir}
    for stage in dockerfile.stages[:-1]:
        copied = {instruction.value.split()[0] for instruction in stage.all("COPY")}
        if copied != wanted_copies:
            problems.append(
                f"build stage copies {sorted(copied)}, must copy exactly {sorted(wanted_copies)}"
            )
        installed = _local_installs(stage)
        if installed != wanted_installs:
            problems.append(
                f"build stage installs {sorted(installed)}, "
                f"must install exactly {sorted(wanted_installs)}"
            )
    return problems


def _final_stage_problems(dockerfile: Dockerfile, spec: ImageSpec) -> list[str]:
    final = dockerfile.final
    problems = []
    user = final.last("USER")
    uid = _user_id(user.value.strip()) if user else None
    if uid is None or uid == 0:
        problems.append("the final stage must switch to a numeric non-root USER (runs as root)")
    for run in final.all("RUN"):
        for command in (part.strip() for part in run.value.split("&&")):
            if COMPILERS.search(command):
                problems.append(f"compiler in the final stage: {command!r}")
            elif not USER_SETUP.match(command):
                problems.append(
                    f"the final stage may only create the runtime user, not {command!r}"
                )
    copies = final.all("COPY")
    if not copies or any("--from=" not in copy.value for copy in copies):
        problems.append("the final stage must only COPY --from the build stage")
    for keyword, expected in (("ENTRYPOINT", [spec.program]), ("CMD", COMMAND[spec])):
        instruction = final.last(keyword)
        argv = exec_form(instruction.value) if instruction else []
        if instruction is not None and argv is None:
            problems.append(f"{keyword} must be exec form (a JSON array): {instruction.value}")
        elif (argv or []) != expected:
            problems.append(f"{keyword} must be {expected}, got {argv}")
    problems += _healthcheck_problems(final, spec)
    problems += _label_problems(final, spec)
    exposed = [int(port.split("/")[0]) for e in final.all("EXPOSE") for port in e.value.split()]
    if exposed != ([spec.port] if spec.port else []):
        problems.append(f"EXPOSE {exposed}, expected {spec.port}")
    stop = final.last("STOPSIGNAL")
    if stop is not None and stop.value.strip() != "SIGTERM":
        problems.append("the services shut down gracefully on SIGTERM; STOPSIGNAL must be SIGTERM")
    return problems


def _healthcheck_problems(final: Stage, spec: ImageSpec) -> list[str]:
    instruction = final.last("HEALTHCHECK")
    if spec not in (CORE, GATEWAY):
        return (
            [] if instruction is None else [f"{spec.name} serves no health route: no HEALTHCHECK"]
        )
    if instruction is None:
        return [f'HEALTHCHECK CMD ["{spec.program}", "healthcheck"] is missing']
    options, argv = healthcheck_command(instruction)
    problems = []
    if argv != [spec.program, "healthcheck"]:
        problems.append(
            f"HEALTHCHECK must run exec-form [{spec.program!r}, 'healthcheck'], got {argv}"
        )
    missing = [option for option in HEALTHCHECK_OPTIONS if option not in options]
    if missing:
        problems.append(f"HEALTHCHECK without {missing}")
    return problems


def _label_problems(final: Stage, spec: ImageSpec) -> list[str]:
    args = {}
    for arg in final.all("ARG"):
        name, _, default = arg.value.strip().partition("=")
        args[name] = default
    labels = {}
    for label in final.all("LABEL"):
        labels |= {key: substitute(value, args) for key, value in pairs(label.value).items()}
    problems = [
        f"OCI label org.opencontainers.image.{name} is missing"
        for name in REQUIRED_LABELS
        if not labels.get(f"org.opencontainers.image.{name}")
    ]
    expected = {
        "title": spec.image,
        "version": VERSION,
        "base.name": f"docker.io/library/{final.base}",
    }
    for name, value in expected.items():
        actual = labels.get(f"org.opencontainers.image.{name}")
        if actual and actual != value:
            problems.append(
                f"OCI label org.opencontainers.image.{name} is {actual!r}, expected {value!r}"
            )
    return problems


@pytest.mark.parametrize("spec", ALL_IMAGES, ids=lambda spec: spec.name)
def test_dockerfile_follows_the_image_rules(spec: ImageSpec) -> None:
    problems = dockerfile_problems(parse_dockerfile(spec.dockerfile), spec)

    assert problems == [], f"{spec.dockerfile.name}:\n" + "\n".join(problems)


BROKEN = [
    ("USER 10001:10001", "USER root", "non-root USER (runs as root)"),
    ("USER 10001:10001\n", "", "non-root USER (runs as root)"),
    ('CMD ["serve"]', "CMD serve", "CMD must be exec form"),
    ('ENTRYPOINT ["authara-core"]', "ENTRYPOINT authara-core", "ENTRYPOINT must be exec form"),
    ("FROM python:3.11.14-slim-bookworm\n", "FROM python:latest\n", "FROM python:latest"),
    (
        "FROM python:3.11.14-slim-bookworm\n",
        "FROM python:3.9.20-slim-bookworm\n",
        "outside requires-python",
    ),
    ("COPY services/core services/core", "COPY services services", "must copy exactly"),
    (
        "./shared ./shared/runtime ./services/core",
        "./shared ./shared/runtime ./services/core ./services/gateway",
        "must install exactly",
    ),
    (
        "USER 10001:10001",
        "RUN apt-get install -y gcc\nUSER 10001:10001",
        "compiler in the final stage",
    ),
    (
        "USER 10001:10001",
        "RUN pip install httpie\nUSER 10001:10001",
        "only create the runtime user",
    ),
    (
        '    CMD ["authara-core", "healthcheck"]\n',
        "    CMD authara-core healthcheck\n",
        "HEALTHCHECK must run",
    ),
    ("--retries=3 ", "", "HEALTHCHECK without ['retries']"),
    (
        'org.opencontainers.image.title="authara-core"',
        'org.opencontainers.image.title="core"',
        "image.title",
    ),
    ("ARG VCS_REF=unknown\n", "", "image.revision is missing"),
    ("EXPOSE 8080", "EXPOSE 80", "EXPOSE [80]"),
]


@pytest.mark.parametrize(("old", "new", "reason"), BROKEN, ids=[case[2] for case in BROKEN])
def test_a_broken_dockerfile_is_caught_with_the_reason(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    text = CORE.dockerfile.read_text(encoding="utf-8")
    assert old in text, f"the mutation no longer applies: {old!r}"
    broken = tmp_path / "core.Dockerfile"
    broken.write_text(text.replace(old, new), encoding="utf-8")

    problems = dockerfile_problems(parse_dockerfile(broken), CORE)

    assert any(reason in problem for problem in problems), problems


def test_single_stage_is_caught(tmp_path: Path) -> None:
    text = CORE.dockerfile.read_text(encoding="utf-8")
    single = tmp_path / "core.Dockerfile"
    single.write_text(text[text.index("FROM python", text.index("AS build")) :], encoding="utf-8")

    assert any("not multi-stage" in p for p in dockerfile_problems(parse_dockerfile(single), CORE))


@pytest.mark.parametrize("spec", [CORE, GATEWAY], ids=lambda spec: spec.name)
def test_exposed_port_is_the_default_bind_port(spec: ImageSpec) -> None:
    default = BY_NAME[BIND_VARIABLE[spec]].default

    assert default is not None
    assert parse_host_port(default)[1] == spec.port


def test_kubernetes_runs_the_images_as_their_own_user() -> None:
    users = [parse_dockerfile(spec.dockerfile).final.last("USER") for spec in ALL_IMAGES]
    uids = {_user_id(user.value) if user else None for user in users}
    pods = [kustomize.pod_spec(resource) for resource in kustomize.render(K8S_BASE)]
    run_as = {pod["securityContext"]["runAsUser"] for pod in pods if pod is not None}

    assert len(uids) == 1
    assert run_as == uids


# -- .dockerignore ---------------------------------------------------------------------------


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_context() -> None:
    ignore = DockerIgnore.load(DOCKERIGNORE)

    for path in [
        ".git/config",
        ".venv/bin/python",
        ".authara/postgres/PG_VERSION",
        ".env",
        "deploy/compose/.env",
        "tests/conftest.py",
        "services/core/authara_core/__pycache__/app.cpython-311.pyc",
    ]:
        assert ignore.excluded(path), f".dockerignore lets {path} into the build context"


@pytest.mark.parametrize("spec", ALL_IMAGES, ids=lambda spec: spec.name)
def test_dockerignore_keeps_every_source_file_the_image_copies(spec: ImageSpec) -> None:
    ignore = DockerIgnore.load(DOCKERIGNORE)
    dockerfile = parse_dockerfile(spec.dockerfile)
    lost = []
    for stage in dockerfile.stages[:-1]:
        for copy in stage.all("COPY"):
            source = REPO_ROOT / copy.value.split()[0]
            for path in source.rglob("*"):
                relative = path.relative_to(REPO_ROOT).as_posix()
                if path.is_file() and ignore.excluded(relative) and not DISPOSABLE.search(relative):
                    lost.append(relative)

    assert lost == [], f".dockerignore drops files the {spec.name} image needs: {lost}"


def test_dockerignore_matching_follows_docker_rules() -> None:
    ignore = DockerIgnore(["*.md", "!README.md", "**/tmp", "docs/*.txt", "a?c", "[xy].log"])

    assert ignore.excluded("NOTES.md")
    assert not ignore.excluded("README.md")
    assert not ignore.excluded("sub/NOTES.md")
    assert ignore.excluded("tmp/x")
    assert ignore.excluded("deep/er/tmp/file")
    assert ignore.excluded("docs/a.txt")
    assert not ignore.excluded("docs/sub/a.txt")
    assert ignore.excluded("abc")
    assert ignore.excluded("x.log")
    assert not ignore.excluded("z.log")
