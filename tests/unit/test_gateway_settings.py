"""Gateway settings: defaults, required variables, one message naming every bad value."""

import base64
import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from authara_contract.env import BY_NAME, AppEnv, EnvReader, Service, SettingsError, vars_for
from authara_gateway.settings import (
    GatewaySettings,
    TimeoutSettings,
    Upstream,
    load_bind,
    load_settings,
    startup_warnings,
)

GATEWAY_SCRIPT = Path(sys.executable).parent / "authara-gateway"
KEY = base64.b64encode(b"k" * 32).decode()
MINIMAL = {"AUTHARA_UPSTREAM": "core:8080", "APP_UPSTREAM": "http://app:9000"}


def _load(**overrides: str) -> GatewaySettings:
    return load_settings({**MINIMAL, **overrides})


def _problems(environ: Mapping[str, str]) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return dict(caught.value.problems)


def test_defaults() -> None:
    settings = load_settings(MINIMAL)

    assert (settings.bind_host, settings.bind_port) == ("0.0.0.0", 3000)
    assert settings.auth_upstreams == (Upstream("core", 8080),)
    assert settings.app_upstreams == (Upstream("app", 9000),)
    assert settings.enable_compression is True
    assert settings.auto_https == "off"
    assert settings.app_env is AppEnv.DEV
    assert settings.log_level == "debug"
    assert settings.identity is None
    assert settings.trusted_proxies == ()
    assert settings.timeouts == TimeoutSettings(connect=5.0, read=300.0, shutdown=10.0)
    assert settings.protected_paths == ()
    assert settings.fail_duration == 10.0
    assert settings.workers == 1


def test_prod_logs_at_info_by_default() -> None:
    assert _load(APP_ENV="PROD").app_env is AppEnv.PROD
    assert _load(APP_ENV="prod").log_level == "info"
    assert _load(APP_ENV="prod", LOG_LEVEL="WARN").log_level == "warn"


def test_values_are_parsed() -> None:
    settings = _load(
        GATEWAY_BIND="127.0.0.1:8000",
        AUTHARA_UPSTREAM="http://[::1]:8080",
        ENABLE_COMPRESSION="false",
        AUTO_HTTPS="disable_redirects",
        GATEWAY_TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.7",
    )

    assert (settings.bind_host, settings.bind_port) == ("127.0.0.1", 8000)
    assert settings.auth_upstreams == (Upstream("::1", 8080),)
    assert str(settings.auth_upstreams[0].base_url) == "http://[::1]:8080"
    assert settings.enable_compression is False
    assert settings.auto_https == "disable_redirects"
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
    )


def test_upstreams_are_required() -> None:
    problems = _problems({})

    assert problems == {"AUTHARA_UPSTREAM": "is required", "APP_UPSTREAM": "is required"}


@pytest.mark.parametrize(
    "value", ["https://core:8080", "core:8080/auth", "core", ":8080", "core:0", "core:http"]
)
def test_bad_upstream_is_named(value: str) -> None:
    assert set(_problems({**MINIMAL, "AUTHARA_UPSTREAM": value})) == {"AUTHARA_UPSTREAM"}


def test_identity_forwarding_needs_keys_and_issuer() -> None:
    settings = _load(AUTHARA_JWT_KEYS=f"k1:{KEY}", AUTHARA_JWT_ISSUER="https://auth.test")

    assert settings.identity is not None
    assert settings.identity.issuer == "https://auth.test"
    assert settings.identity.keys.keys == {"k1": b"k" * 32}


@pytest.mark.parametrize(
    ("present", "missing"),
    [("AUTHARA_JWT_KEYS", "AUTHARA_JWT_ISSUER"), ("AUTHARA_JWT_ISSUER", "AUTHARA_JWT_KEYS")],
)
def test_half_of_the_identity_settings_is_an_error(present: str, missing: str) -> None:
    value = f"k1:{KEY}" if present == "AUTHARA_JWT_KEYS" else "https://auth.test"

    problems = _problems({**MINIMAL, present: value})

    assert set(problems) == {missing}
    assert present in problems[missing]


def test_jwt_settings_stay_required_for_core() -> None:
    reader = EnvReader({}, Service.CORE)

    reader.raw("AUTHARA_JWT_KEYS")
    reader.raw("AUTHARA_JWT_ISSUER")

    assert reader.problems == [
        ("AUTHARA_JWT_KEYS", "is required"),
        ("AUTHARA_JWT_ISSUER", "is required"),
    ]
    assert BY_NAME["AUTHARA_JWT_KEYS"].required_for(Service.CORE)
    assert not BY_NAME["AUTHARA_JWT_KEYS"].required_for(Service.GATEWAY)


def test_every_bad_value_is_named_in_one_message() -> None:
    environ = {
        "GATEWAY_BIND": "nowhere",
        "APP_UPSTREAM": "app",
        "ENABLE_COMPRESSION": "yes please",
        "AUTO_HTTPS": "sometimes",
        "LOG_LEVEL": "loud",
        "APP_ENV": "staging",
        "AUTHARA_JWT_KEYS": "k1:c2hvcnQ=",
        "AUTHARA_JWT_ISSUER": "https://auth.test",
        "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,not-an-ip",
    }

    with pytest.raises(SettingsError) as caught:
        load_settings(environ)

    named = {name for name, _ in caught.value.problems}
    assert named == set(environ) - {"AUTHARA_JWT_ISSUER"} | {"AUTHARA_UPSTREAM"}
    assert "\n" not in caught.value.message
    for name in named:
        assert name in caught.value.message


class _RecordingEnviron(Mapping[str, str]):
    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def test_reads_exactly_the_gateway_rows_of_the_table() -> None:
    environ = _RecordingEnviron(MINIMAL)

    load_settings(environ)

    assert environ.asked == {var.name for var in vars_for(Service.GATEWAY)}


def test_auto_https_other_than_off_warns() -> None:
    assert startup_warnings(_load()) == []
    (warning,) = startup_warnings(_load(AUTO_HTTPS="on"))
    assert "AUTO_HTTPS" in warning
    assert "TLS" in warning


def test_health_check_reads_only_the_bind_address() -> None:
    assert load_bind({}) == ("0.0.0.0", 3000)
    assert load_bind({"GATEWAY_BIND": "[::1]:3100"}) == ("::1", 3100)
    with pytest.raises(SettingsError):
        load_bind({"GATEWAY_BIND": "3000"})


def _clean_environ(**extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key not in BY_NAME}
    return {**environ, **extra}


@pytest.mark.parametrize(
    "command", [[str(GATEWAY_SCRIPT)], [sys.executable, "-m", "authara_gateway"]]
)
def test_cli_exits_2_with_one_line_naming_every_bad_variable(command: list[str]) -> None:
    environ = _clean_environ(APP_UPSTREAM="app", ENABLE_COMPRESSION="maybe")

    result = subprocess.run(
        command, env=environ, capture_output=True, text=True, timeout=30, check=False
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("authara-gateway: invalid configuration:")
    for name in ("AUTHARA_UPSTREAM", "APP_UPSTREAM", "ENABLE_COMPRESSION"):
        assert name in lines[0]
    assert "Traceback" not in result.stderr


def test_healthcheck_exits_1_when_nothing_listens(unused_tcp_port: int) -> None:
    environ = _clean_environ(GATEWAY_BIND=f"127.0.0.1:{unused_tcp_port}")

    result = subprocess.run(
        [str(GATEWAY_SCRIPT), "healthcheck"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "unhealthy" in result.stderr


def test_healthcheck_with_a_bad_bind_exits_1_not_2() -> None:
    result = subprocess.run(
        [str(GATEWAY_SCRIPT), "healthcheck"],
        env=_clean_environ(GATEWAY_BIND="bad"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert "GATEWAY_BIND" in result.stderr


def test_upstream_lists_and_new_knobs_are_parsed() -> None:
    settings = _load(
        AUTHARA_UPSTREAM="core-1:8080, http://core-2:8080",
        APP_UPSTREAM="app:9000,app:9001",
        AUTHARA_JWT_KEYS=f"k1:{KEY}",
        AUTHARA_JWT_ISSUER="https://auth.test",
        GATEWAY_PROTECTED_PATHS="/private/, /account,/",
        GATEWAY_CONNECT_TIMEOUT="250ms",
        GATEWAY_READ_TIMEOUT="0",
        GATEWAY_SHUTDOWN_TIMEOUT="30s",
        GATEWAY_UPSTREAM_FAIL_DURATION="1m",
        GATEWAY_WORKERS="2",
    )

    assert settings.auth_upstreams == (Upstream("core-1", 8080), Upstream("core-2", 8080))
    assert settings.app_upstreams == (Upstream("app", 9000), Upstream("app", 9001))
    assert settings.protected_paths == ("/private", "/account", "/")
    assert settings.timeouts == TimeoutSettings(connect=0.25, read=None, shutdown=30.0)
    assert settings.fail_duration == 60.0
    assert settings.workers == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_UPSTREAM", "app:9000,,app:9001"),
        ("APP_UPSTREAM", "app:9000,app"),
        ("GATEWAY_CONNECT_TIMEOUT", "0"),
        ("GATEWAY_CONNECT_TIMEOUT", "soon"),
        ("GATEWAY_READ_TIMEOUT", "-1s"),
        ("GATEWAY_SHUTDOWN_TIMEOUT", "10"),
        ("GATEWAY_UPSTREAM_FAIL_DURATION", "forever"),
        ("GATEWAY_WORKERS", "0"),
        ("GATEWAY_WORKERS", "65"),
        ("GATEWAY_WORKERS", "two"),
        ("GATEWAY_PROTECTED_PATHS", "private"),
        ("GATEWAY_PROTECTED_PATHS", "/a?b"),
        ("GATEWAY_PROTECTED_PATHS", "//a"),
        ("GATEWAY_PROTECTED_PATHS", "/auth/admin"),
        ("GATEWAY_PROTECTED_PATHS", "/auth"),
    ],
)
def test_bad_new_values_are_named(name: str, value: str) -> None:
    identity = {"AUTHARA_JWT_KEYS": f"k1:{KEY}", "AUTHARA_JWT_ISSUER": "https://auth.test"}

    assert set(_problems({**MINIMAL, **identity, name: value})) == {name}


def test_protected_paths_need_identity_settings() -> None:
    problems = _problems({**MINIMAL, "GATEWAY_PROTECTED_PATHS": "/private"})

    assert set(problems) == {"GATEWAY_PROTECTED_PATHS"}
    assert "AUTHARA_JWT_KEYS" in problems["GATEWAY_PROTECTED_PATHS"]
