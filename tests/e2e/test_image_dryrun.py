"""Image dry run: the compose stack from the images' own build steps, without a Docker engine.

For each image, the Dockerfile's build stage runs into a fresh virtualenv (tests/deploy/
rehearsal.py: same COPY sources through .dockerignore, same RUN commands); then the compose
file's default services start as processes with exactly the images' ENTRYPOINT/CMD and the
environment compose would give them, in depends_on order, with the embedded PostgreSQL in place
of the postgres image (tests/e2e/image_stack.py). Signup and login are driven through the
gateway over HTTP, the probes the Kubernetes manifests use are asked, and SIGTERM must stop
every server with status 0.

What this does not prove: that the base image's Debian and Python (3.11.14) behave like this
machine's, and anything about layers, file ownership or the read-only root file system.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from tests.dbutil import fresh_database
from tests.deploy import kustomize
from tests.deploy.compose import load_compose
from tests.deploy.dockerfile import parse_dockerfile
from tests.deploy.env_example import filled_example
from tests.deploy.layout import (
    ALL_IMAGES,
    BY_IMAGE,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    K8S_BASE,
    REPO_ROOT,
    ImageSpec,
)
from tests.deploy.rehearsal import Image, rehearse

from .image_stack import Container, Stack, plan_stack, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PASSWORD = "correct horse battery staple"
STOP_TIMEOUT_S = 30.0
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Image]:
    """Rehearse every image's build once for this module, in parallel."""
    workspace = tmp_path_factory.mktemp("images")
    cache = tmp_path_factory.mktemp("build-cache")

    def build(spec: ImageSpec) -> tuple[str, Image]:
        dockerfile = parse_dockerfile(spec.dockerfile)
        image = rehearse(
            dockerfile,
            spec.name,
            context=REPO_ROOT,
            workspace=workspace,
            python=Path(sys.executable),
            cache_dir=cache,
        )
        return spec.name, image

    # The builds wait on the package index as much as on the CPU: run them side by side.
    with ThreadPoolExecutor(max_workers=len(ALL_IMAGES)) as pool:
        return dict(pool.map(build, ALL_IMAGES))


@dataclass
class Project:
    """One compose project: the folder holding the operator's .env, and its variables."""

    directory: Path
    variables: dict[str, str]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    directory = tmp_path_factory.mktemp("compose-project")
    variables = filled_example(ENV_EXAMPLE.read_text(encoding="utf-8"))
    (directory / ".env").write_text(
        "".join(f"{k}={v}\n" for k, v in variables.items()), encoding="utf-8"
    )
    return Project(directory, variables)


def _plan(
    images: dict[str, Image], project: Project, database: DatabaseSettings, logs: Path
) -> Stack:
    logs.mkdir(parents=True, exist_ok=True)
    return plan_stack(
        load_compose(COMPOSE_FILE), project.variables, project.directory, images, database, logs
    )


@pytest.fixture(scope="module")
def stack(
    images: dict[str, Image],
    project: Project,
    pg_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Bring the default compose services up on a fresh database; tear them down afterwards."""
    with fresh_database(pg_server_url) as database:
        planned = _plan(images, project, database, tmp_path_factory.mktemp("logs"))
        try:
            planned.up()
            planned.wait()
            yield planned
        finally:
            planned.down()


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line]
    assert "Traceback" not in text, text
    assert len(lines) == 1, text
    return lines[0]


def _bump_revision(database: DatabaseSettings, revision: str) -> str:
    table = sql.Identifier(database.schema, "alembic_version")
    with psycopg.connect(database.url(), autocommit=True) as conn:
        row = conn.execute(sql.SQL("SELECT version_num FROM {}").format(table)).fetchone()
        conn.execute(sql.SQL("UPDATE {} SET version_num = %s").format(table), (revision,))
    assert row is not None
    return str(row[0])


# -- images ----------------------------------------------------------------------------------


def test_each_image_holds_only_its_service_and_the_shared_packages(
    images: dict[str, Image],
) -> None:
    shared_packages = {"shared": "authara_contract", "shared/runtime": "authara_runtime"}
    for spec in ALL_IMAGES:
        site = next((images[spec.name].root / "opt").rglob("site-packages"))
        ours = sorted(p.name.split("-")[0] for p in site.glob("authara_*.dist-info"))
        package = Path(spec.package_dir).name
        wanted = [shared_packages[folder] for folder in spec.shared]
        assert ours == sorted([*wanted, f"authara_{package}"]), spec.name


def test_core_refuses_an_unmigrated_database_in_one_line(
    images: dict[str, Image], project: Project, pg_server_url: str, tmp_path: Path
) -> None:
    with fresh_database(pg_server_url) as database:
        core = _plan(images, project, database, tmp_path).containers["core"]
        result = core.run(timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "authara-migrate up" in _one_line(result.stderr)


def test_core_refuses_a_newer_schema_in_one_line(
    images: dict[str, Image], project: Project, pg_server_url: str, tmp_path: Path
) -> None:
    with fresh_database(pg_server_url) as database:
        planned = _plan(images, project, database, tmp_path)
        migrated = planned.containers["migrations"].run()
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        _bump_revision(database, "9999")
        result = planned.containers["core"].run(timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "revision 9999" in _one_line(result.stderr)


# -- the running stack -----------------------------------------------------------------------


class Browser:
    """A cookie-keeping HTTP client that follows redirects, like a browser without JavaScript."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str, str]:
        """GET a path; return status, final path and body."""
        return self._open(urllib.request.Request(self.base_url + path))  # noqa: S310 - http

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        """POST a form; return status, final path and body."""
        data = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
            self.base_url + path, data=data, method="POST"
        )
        return self._open(request)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def _open(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self._opener.open(request, timeout=20) as response:
                final = urllib.parse.urlsplit(response.geturl()).path
                return response.status, final, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, urllib.parse.urlsplit(exc.geturl()).path, exc.read().decode()


def _submit(browser: Browser, page: str, **fields: str) -> tuple[int, str, str]:
    status, _, html = browser.get(page)
    assert status == 200, html
    token = _CSRF_FIELD.search(html)
    assert token is not None, html
    return browser.post_form(page, {"csrf_token": token.group(1), **fields})


def _whoami(browser: Browser) -> dict[str, object]:
    status, _, body = browser.get("/whoami")
    assert status == 200, body
    return dict(json.loads(body))


def _gateway_url(stack: Stack) -> str:
    return stack.network.url("gateway", 3000)


def test_signup_and_login_through_the_gateway(stack: Stack) -> None:
    email = f"dry-run-{time.monotonic_ns()}@example.com"
    browser = Browser(_gateway_url(stack))

    status, landed, body = _submit(browser, routes.SIGNUP, email=email, password=PASSWORD)
    assert (status, landed) == (200, routes.PASSKEY_SETUP), body  # the passkey offer first
    user_id = _whoami(browser)["user_id"]
    assert user_id
    status, _, page = browser.get("/private")
    assert status == 200
    assert email in page

    csrf = browser.cookie(cookies.CSRF.name)
    assert csrf is not None
    status, _, _ = browser.post_form(routes.LOGOUT, {"csrf_token": csrf})
    assert status == 200
    assert _whoami(browser)["user_id"] is None

    again = Browser(_gateway_url(stack))
    status, landed, body = _submit(again, routes.LOGIN, email=email, password=PASSWORD)
    assert (status, landed) == (200, "/"), body
    assert _whoami(again)["user_id"] == user_id


def _probes() -> list[tuple[str, str, str]]:
    """Return (image, probe, path) for every HTTP probe of the Kubernetes base."""
    found = []
    for resource in kustomize.render(K8S_BASE):
        for container in kustomize.containers(resource):
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                check = container.get(probe, {}).get("httpGet")
                if check:
                    found.append((container["image"].split(":")[0], probe, check["path"]))
    return found


def _service_running(stack: Stack, image: str) -> Container:
    name = BY_IMAGE[image].name
    return next(c for c in stack.containers.values() if c.image.name == name)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_probes_of_the_manifests_and_the_healthchecks_pass(stack: Stack) -> None:
    probes = _probes()
    assert probes
    for image, probe, path in probes:
        container = _service_running(stack, image)
        port = BY_IMAGE[image].port
        assert port is not None
        status = _get(stack.network.url(container.name, port) + path)
        assert status == 200, f"{image} {probe} {path} answered {status}"
    for container in stack.containers.values():
        if container.image.healthcheck is not None:
            wait_healthy(container)


def test_readiness_follows_the_database_schema(stack: Stack, pg_server_url: str) -> None:
    core = stack.network.url("core", 8080) + routes.READY
    gateway = _gateway_url(stack) + routes.GATEWAY_READY
    env = stack.containers["core"].env
    database = DatabaseSettings(
        host=env["POSTGRESQL_HOST"],
        port=int(env["POSTGRESQL_PORT"]),
        database=env["POSTGRESQL_DATABASE"],
        username=env["POSTGRESQL_USERNAME"],
        password=env["POSTGRESQL_PASSWORD"],
        schema=env["POSTGRESQL_SCHEMA"],
    )
    assert (_get(core), _get(gateway)) == (200, 200)

    previous = _bump_revision(database, "9999")
    try:
        assert (_get(core), _get(gateway)) == (503, 503)
    finally:
        _bump_revision(database, previous)
    assert (_get(core), _get(gateway)) == (200, 200)


def test_sigterm_stops_every_server_with_status_0(stack: Stack) -> None:
    for name in ("gateway", "app", "core"):
        container = stack.containers[name]
        status = container.stop(STOP_TIMEOUT_S)
        assert status == 0, f"{name} exited {status}:\n{container.output()}"
    assert stack.containers["migrations"].wait(1) == 0
