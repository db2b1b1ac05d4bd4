"""deploy/compose/docker-compose.yml: valid against the compose specification, wired right.

The schema check is `check-jsonschema --builtin-schema vendor.compose-spec` (the schema ships
with the package: no network). The rest reads the file as compose does, with the .env an
operator makes from .env.example, and checks what a schema cannot: start order, published
port, which variables reach which service, and that every service accepts its configuration.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from authara_contract import VERSION
from authara_contract.env import parse_duration, parse_host_port, vars_for
from authara_core.settings import load_settings as load_core_settings
from authara_demo.app import load_settings as load_demo_settings
from authara_gateway.settings import load_settings as load_gateway_settings
from authara_migrations.settings import load_settings as load_migration_settings
from tests.deploy.compose import interpolate, interpolate_tree, load_compose, service_environment
from tests.deploy.env_example import filled_example
from tests.deploy.layout import (
    BY_IMAGE,
    COMPOSE_FILE,
    CORE,
    DEMO,
    DEMO_VARS,
    ENV_EXAMPLE,
    GATEWAY,
    MIGRATIONS,
    REPO_ROOT,
    ImageSpec,
)

LOADERS: dict[ImageSpec, Callable[[Mapping[str, str]], object]] = {
    CORE: load_core_settings,
    GATEWAY: load_gateway_settings,
    MIGRATIONS: load_migration_settings,
    DEMO: load_demo_settings,
}
SHUTDOWN = {CORE: "AUTHARA_SHUTDOWN_TIMEOUT", GATEWAY: "GATEWAY_SHUTDOWN_TIMEOUT"}


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    """Validate a compose file against the compose specification, offline."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_compose(COMPOSE_FILE)


@pytest.fixture(scope="module")
def operator_env() -> dict[str, str]:
    """The .env an operator makes from .env.example."""
    return filled_example(ENV_EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, operator_env: dict[str, str]) -> Path:
    """A compose project folder holding that .env."""
    directory = tmp_path_factory.mktemp("compose")
    (directory / ".env").write_text(
        "".join(f"{name}={value}\n" for name, value in operator_env.items()), encoding="utf-8"
    )
    return directory


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any], operator_env: dict[str, str]) -> dict[str, Any]:
    """The compose file after interpolation with the operator's .env."""
    return interpolate_tree(raw, operator_env)


def _spec(service: Mapping[str, Any]) -> ImageSpec | None:
    return BY_IMAGE.get(str(service.get("image", "")).split(":")[0])


def _ours(compose: Mapping[str, Any]) -> dict[str, ImageSpec]:
    return {name: spec for name, service in compose["services"].items() if (spec := _spec(service))}


def _active(compose: Mapping[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in compose["services"].items() if not s.get("profiles")}


# -- schema ----------------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_specification() -> None:
    result = check_compose_schema(COMPOSE_FILE)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('    restart: "no"\n', '    restart_policy: "no"\n'),
        ("condition: service_completed_successfully", "condition: service_done"),
        ("    stop_grace_period: 20s\n", "    stop_grace_peroid: 20s\n"),
    ],
)
def test_a_compose_change_that_breaks_the_schema_fails(tmp_path: Path, old: str, new: str) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")

    result = check_compose_schema(broken)

    assert result.returncode != 0
    assert "docker-compose.yml" in result.stdout


# -- services and start order ----------------------------------------------------------------


def test_postgres_is_16_with_a_healthcheck_and_a_named_volume(raw: dict[str, Any]) -> None:
    postgres = raw["services"]["postgres"]

    assert postgres["image"] == "postgres:16"
    assert postgres["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume, _, target = postgres["volumes"][0].partition(":")
    assert target == "/var/lib/postgresql/data"
    assert volume in raw["volumes"]


def test_the_database_is_created_with_the_credentials_the_services_use(
    compose: dict[str, Any],
) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    for name in ("migrations", "core"):
        env = compose["services"][name]["environment"]
        assert env["POSTGRESQL_HOST"] == "postgres"
        assert env["POSTGRESQL_PORT"] == "5432"
        assert env["POSTGRESQL_DATABASE"] == postgres["POSTGRES_DB"]
        assert env["POSTGRESQL_USERNAME"] == postgres["POSTGRES_USER"]
        assert env["POSTGRESQL_PASSWORD"] == postgres["POSTGRES_PASSWORD"]


def test_start_order_is_postgres_migrations_core_gateway(raw: dict[str, Any]) -> None:
    services = raw["services"]

    assert services["migrations"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrations"]["restart"] == "no"
    for core in ("core", "core-replica"):
        depends = services[core]["depends_on"]
        assert depends["migrations"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
    assert services["gateway"]["depends_on"]["core"]["condition"] == "service_healthy"
    # The app is replaceable: deleting the demo `app` service must leave a valid file.
    assert set(services["gateway"]["depends_on"]) == {"core"}


def test_the_demo_app_can_be_removed(raw: dict[str, Any]) -> None:
    others = {name: service for name, service in raw["services"].items() if name != "app"}
    for name, service in others.items():
        assert "app" not in service.get("depends_on", {}), name
        assert "app" not in service.get("links", []), name


def test_every_depended_on_service_runs_without_a_profile(raw: dict[str, Any]) -> None:
    active = _active(raw)
    for name, service in active.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in active, f"{name} depends on {dependency}, which needs a profile"


def test_only_the_gateway_is_published_on_3000(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in _active(compose).items() if s.get("ports")}

    assert list(published) == ["gateway"]
    address, host_port, container_port = published["gateway"][0].rsplit(":", 2)
    assert (host_port, container_port) == ("3000", "3000")
    assert address == "127.0.0.1"
    bind = compose["services"]["gateway"]["environment"]["GATEWAY_BIND"]
    assert parse_host_port(bind)[1] == int(container_port)


def test_scale_profile_adds_redis_a_second_core_and_a_second_gateway(raw: dict[str, Any]) -> None:
    profiled = {name: s for name, s in raw["services"].items() if "scale" in s.get("profiles", [])}

    assert "redis" in profiled
    assert [name for name, s in profiled.items() if _spec(s) is CORE] == ["core-replica"]
    assert [name for name, s in profiled.items() if _spec(s) is GATEWAY] == ["gateway-replica"]
    assert raw["services"]["redis"]["healthcheck"]
    assert "noeviction" in raw["services"]["redis"]["command"]  # never drop a revocation


@pytest.mark.parametrize(
    ("name", "like"), [("core-replica", "core"), ("gateway-replica", "gateway")]
)
def test_scale_replicas_share_state_through_redis(
    compose: dict[str, Any],
    project: Path,
    operator_env: dict[str, str],
    name: str,
    like: str,
) -> None:
    replica, original = compose["services"][name], compose["services"][like]
    assert replica["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert set(original["depends_on"]) <= set(replica["depends_on"])
    env = service_environment(replica, project, operator_env)
    assert env["AUTHARA_CACHE_PROVIDER"] == "redis"
    assert env["AUTHARA_REDIS_HOST"] == "redis"
    # Otherwise configured like the service it doubles, and accepted by its program.
    same = service_environment(original, project, operator_env)
    assert {
        k: v for k, v in env.items() if not k.startswith(("AUTHARA_CACHE", "AUTHARA_REDIS"))
    } == {k: v for k, v in same.items() if not k.startswith(("AUTHARA_CACHE", "AUTHARA_REDIS"))}
    spec = _spec(replica)
    assert spec is not None
    LOADERS[spec](env)


def test_the_second_gateway_is_published_on_loopback_3001(compose: dict[str, Any]) -> None:
    assert compose["services"]["gateway-replica"]["ports"] == ["127.0.0.1:3001:3000"]


def test_mail_profile_adds_a_mail_catcher_on_loopback_that_core_can_send_to(
    compose: dict[str, Any], project: Path, operator_env: dict[str, str]
) -> None:
    profiled = {
        name: s for name, s in compose["services"].items() if "mail" in s.get("profiles", [])
    }

    assert list(profiled) == ["mailpit"]
    mailpit = profiled["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:v")  # a pinned release, not latest
    assert mailpit["ports"] == ["127.0.0.1:8025:8025"]
    # The settings the compose file's comment gives are accepted by core (dev only).
    env = service_environment(compose["services"]["core"], project, operator_env)
    settings = load_core_settings(
        env
        | {
            "AUTHARA_EMAIL_PROVIDER": "smtp",
            "AUTHARA_EMAIL_SMTP_HOST": "mailpit",
            "AUTHARA_EMAIL_SMTP_PORT": "1025",
            "AUTHARA_EMAIL_SMTP_TLS": "false",
            "AUTHARA_EMAIL_FROM": "Authara <no-reply@example.com>",
        }
    )
    assert settings.mail.smtp is not None
    assert (settings.mail.smtp.host, settings.mail.smtp.port) == ("mailpit", 1025)


def test_app_is_the_demo_app(compose: dict[str, Any]) -> None:
    assert _spec(compose["services"]["app"]) is DEMO


def test_images_are_built_from_the_repository_root_with_their_dockerfile(
    raw: dict[str, Any],
) -> None:
    for name, spec in _ours(raw).items():
        build = raw["services"][name].get("build")
        assert build is not None, f"{name} has no build section (compose would try to pull it)"
        assert (COMPOSE_FILE.parent / build["context"]).resolve() == REPO_ROOT
        assert REPO_ROOT / build["dockerfile"] == spec.dockerfile, name


def test_our_containers_are_hardened(raw: dict[str, Any]) -> None:
    for name in _ours(raw):
        service = raw["services"][name]
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "user" not in service, f"{name} must run as the image's non-root user"
        assert not service.get("privileged"), name


def test_stop_grace_period_outlasts_the_shutdown_deadline(
    compose: dict[str, Any], project: Path, operator_env: dict[str, str]
) -> None:
    for name, spec in _ours(compose).items():
        if spec not in SHUTDOWN:
            continue
        service = compose["services"][name]
        env = service_environment(service, project, operator_env)
        deadline = parse_duration(env.get(SHUTDOWN[spec], "10s"))
        assert parse_duration(service.get("stop_grace_period", "10s")) > deadline, name


# -- configuration ---------------------------------------------------------------------------


def test_each_service_gets_only_its_own_variables(
    raw: dict[str, Any], project: Path, operator_env: dict[str, str]
) -> None:
    problems = []
    for name, spec in _ours(raw).items():
        service = raw["services"][name]
        own = {var.name for var in vars_for(spec.service)} if spec.service else set(DEMO_VARS)
        environment = set(service.get("environment") or {})
        if environment - own:
            problems.append(f"{name}: not its variables: {sorted(environment - own)}")
        if spec.service is not None and "env_file" not in service and environment != own:
            problems.append(
                f"{name}: without env_file it must list all of {sorted(own - environment)}"
            )
        if spec is GATEWAY:
            leaked = {
                v
                for v in service_environment(service, project, operator_env)
                if v.startswith("POSTGRESQL_")
            }
            if leaked:
                problems.append(
                    f"{name}: database settings leak into the gateway: {sorted(leaked)}"
                )

    assert problems == [], "\n".join(problems)


def test_every_service_accepts_its_configuration(
    compose: dict[str, Any], project: Path, operator_env: dict[str, str]
) -> None:
    for name, spec in _ours(compose).items():
        env = service_environment(compose["services"][name], project, operator_env)
        LOADERS[spec](env)


def test_upstreams_name_services_that_listen_there(
    compose: dict[str, Any], project: Path, operator_env: dict[str, str]
) -> None:
    services = compose["services"]
    envs = {
        name: service_environment(services[name], project, operator_env) for name in _ours(compose)
    }
    listens = {
        name: parse_host_port(value)[1]
        for name, env in envs.items()
        for key, value in env.items()
        if key.endswith("_BIND") and not key.endswith("_METRICS_BIND")  # metrics: optional
    }
    references = [
        *envs["gateway"]["AUTHARA_UPSTREAM"].split(","),
        *envs["gateway"]["APP_UPSTREAM"].split(","),
        envs["app"]["AUTHARA_BASE_URL"].removeprefix("http://"),
    ]
    for reference in references:
        host, port = parse_host_port(reference)
        assert host in services, f"{reference} names no compose service"
        assert listens.get(host) == port, f"{reference}: {host} listens on {listens.get(host)}"
    assert _spec(services[parse_host_port(envs["gateway"]["AUTHARA_UPSTREAM"])[0]]) is CORE
    assert _spec(services[parse_host_port(envs["gateway"]["APP_UPSTREAM"])[0]]) is DEMO


def test_interpolation_follows_compose_rules() -> None:
    variables = {"SET": "x", "EMPTY": ""}

    assert (
        interpolate("$$SET ${SET} $SET ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}", variables)
        == "$SET x x d d "
    )
    assert interpolate("${SET:+alt} ${EMPTY:+alt}", variables) == "alt "
    with pytest.raises(ValueError, match="EMPTY: needed"):
        interpolate("${EMPTY:?needed}", variables)
    assert interpolate("${EMPTY?needed}", variables) == ""


def test_the_images_default_to_the_version_core_reports(raw: dict[str, Any]) -> None:
    ours = [s["image"] for s in raw["services"].values() if s["image"].startswith("authara-")]
    assert {image.split(":")[0] for image in ours} == {
        "authara-core",
        "authara-gateway",
        "authara-migrations",
        "authara-demo",
    }
    for image in ours:
        assert image.endswith(f":${{AUTHARA_IMAGE_TAG:-{VERSION}}}"), image
