"""`authara dev` building blocks: the service environment, dev secrets, demo settings."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from yarl import URL

from authara_contract.env import ENV_VARS
from authara_contract.tokens import parse_jwt_keys
from authara_core.settings import load_settings as load_settings_of_core
from authara_demo.app import load_settings
from authara_devstack.dev_env import (
    DevPorts,
    build_env,
    database_url,
    gateway_url,
    mail_is_caught,
    reachable_address,
    ready_lines,
)
from authara_devstack.dev_secrets import DevSecretsError, load_or_create_secrets
from authara_devstack.mail_sink import load_settings as load_sink_settings

ENV_VARS_BY_NAME = {var.name for var in ENV_VARS}
PORTS = DevPorts(gateway=3000, core=41001, demo=41002, mail=41003)


def _env(environ: dict[str, str], tmp_path: Path) -> dict[str, str]:
    secrets = load_or_create_secrets(tmp_path)
    return build_env(
        environ,
        ports=PORTS,
        secrets=secrets,
        database={"POSTGRESQL_PORT": "5999"},
        mail_dir=tmp_path / "mail",
    )


def test_dev_defaults_wire_the_services_together(tmp_path: Path) -> None:
    env = _env({}, tmp_path)

    assert env["GATEWAY_BIND"] == "127.0.0.1:3000"
    assert env["PUBLIC_URL"] == "http://127.0.0.1:3000"
    assert env["AUTHARA_BIND"] == "127.0.0.1:41001"
    assert env["AUTHARA_UPSTREAM"] == "127.0.0.1:41001"
    assert env["AUTHARA_BASE_URL"] == "http://127.0.0.1:41001"
    assert env["DEMO_BIND"] == env["APP_UPSTREAM"] == "127.0.0.1:41002"
    assert env["APP_ENV"] == "dev"
    assert env["POSTGRESQL_PORT"] == "5999"
    keys = parse_jwt_keys(env["AUTHARA_JWT_KEYS"])
    assert list(keys) == [env["AUTHARA_JWT_ACTIVE_KEY_ID"]]
    # Core sends to the stack's mail sink, in plain text on loopback (dev only).
    assert env["AUTHARA_DEV_MAIL_BIND"] == "127.0.0.1:41003"
    assert env["AUTHARA_EMAIL_PROVIDER"] == "smtp"
    assert (env["AUTHARA_EMAIL_SMTP_HOST"], env["AUTHARA_EMAIL_SMTP_PORT"]) == (
        "127.0.0.1",
        "41003",
    )
    assert env["AUTHARA_EMAIL_SMTP_TLS"] == "false"
    assert env["AUTHARA_EMAIL_FROM"] == "Authara (dev) <no-reply@authara.localhost>"
    assert env["AUTHARA_DEV_MAIL_DIR"] == str(tmp_path / "mail")
    # Signup is verified by a code from the sink, as it would be in production.
    assert env["AUTHARA_CHALLENGE_ENABLED"] == "true"
    # Core's webhooks go to the demo app, which verifies them with the same secret.
    assert env["AUTHARA_WEBHOOK_URL"] == "http://127.0.0.1:41002/webhooks/authara"
    assert len(env["AUTHARA_WEBHOOK_SECRET"]) == 64
    assert load_settings(env).webhook_secret == env["AUTHARA_WEBHOOK_SECRET"]
    assert _env({}, tmp_path)["AUTHARA_WEBHOOK_SECRET"] == env["AUTHARA_WEBHOOK_SECRET"]


def test_the_callers_environment_wins_over_dev_defaults(tmp_path: Path) -> None:
    env = _env(
        {
            "PUBLIC_URL": "https://auth.example.test",
            "AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL": "always",
            "POSTGRESQL_PORT": "6543",
            "AUTHARA_BIND": "0.0.0.0:9090",
            "AUTHARA_CHALLENGE_ENABLED": "false",
        },
        tmp_path,
    )

    assert env["PUBLIC_URL"] == "https://auth.example.test"
    assert env["AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL"] == "always"
    assert env["POSTGRESQL_PORT"] == "6543"
    assert env["AUTHARA_CHALLENGE_ENABLED"] == "false"
    # The upstreams follow an overridden bind address.
    assert env["AUTHARA_UPSTREAM"] == "127.0.0.1:9090"
    assert env["AUTHARA_BASE_URL"] == "http://127.0.0.1:9090"


def test_the_dev_stack_has_generous_rate_limits_that_the_caller_can_override(
    tmp_path: Path,
) -> None:
    limits = {name for name in ENV_VARS_BY_NAME if name.startswith("AUTHARA_RATE_LIMIT_")}
    limits = {name for name in limits if name.endswith("_LIMIT")}
    assert limits, "the env table names the rate limits"

    env = _env({"AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT": "2"}, tmp_path)
    database = {
        "POSTGRESQL_HOST": "127.0.0.1",
        "POSTGRESQL_DATABASE": "postgres",
        "POSTGRESQL_USERNAME": "postgres",
        "POSTGRESQL_PASSWORD": "",
    }
    load_settings_of_core({**database, **env})  # core accepts the dev values

    assert env["AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT"] == "2"
    for name in limits - {"AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT"}:
        assert int(env[name]) >= 1000, name


def test_the_stack_says_mail_is_caught_only_while_core_sends_to_its_sink(tmp_path: Path) -> None:
    assert mail_is_caught(_env({}, tmp_path))
    assert mail_is_caught(_env({"AUTHARA_DEV_MAIL_BIND": "0.0.0.0:2626"}, tmp_path))
    real = {"AUTHARA_EMAIL_SMTP_HOST": "smtp.example.com", "AUTHARA_EMAIL_SMTP_PORT": "587"}
    assert not mail_is_caught(_env(real, tmp_path))
    assert not mail_is_caught(_env({"AUTHARA_EMAIL_PROVIDER": "noop"}, tmp_path))


def test_an_overridden_gateway_bind_moves_the_announced_url(tmp_path: Path) -> None:
    env = _env({"GATEWAY_BIND": ":8443"}, tmp_path)

    assert gateway_url(env) == "http://127.0.0.1:8443"
    assert env["PUBLIC_URL"] == "http://127.0.0.1:8443"


@pytest.mark.parametrize(
    ("bind", "dial"),
    [
        ("0.0.0.0:8080", "127.0.0.1:8080"),
        (":3000", "127.0.0.1:3000"),
        ("[::]:3000", "[::1]:3000"),
        ("10.1.2.3:80", "10.1.2.3:80"),
    ],
)
def test_reachable_address_dials_loopback_for_wildcards(bind: str, dial: str) -> None:
    assert reachable_address(bind) == dial


def test_an_unusable_bind_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="host:port"):
        _env({"DEMO_BIND": "nowhere"}, tmp_path)


def test_secrets_are_created_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path)
    second = load_or_create_secrets(tmp_path)

    assert first == second
    assert len(base64.b64decode(first.key_b64)) == 32
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600


def test_a_damaged_secrets_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text('{"jwt_kid": "k", "jwt_key": "c2hvcnQ="}')

    with pytest.raises(DevSecretsError, match=r"secrets\.json"):
        load_or_create_secrets(tmp_path)


def test_demo_settings_have_loopback_defaults() -> None:
    settings = load_settings({})

    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.authara_base_url == URL("http://127.0.0.1:8080/")


@pytest.mark.parametrize(
    ("environ", "name"),
    [({"DEMO_BIND": "8000"}, "DEMO_BIND"), ({"AUTHARA_BASE_URL": "ftp://x"}, "AUTHARA_BASE_URL")],
)
def test_demo_settings_name_the_bad_variable(environ: dict[str, str], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        load_settings(environ)


def test_core_follows_a_moved_mail_sink_and_a_real_smtp_server_wins(tmp_path: Path) -> None:
    moved = _env({"AUTHARA_DEV_MAIL_BIND": "127.0.0.1:2626"}, tmp_path)
    assert moved["AUTHARA_EMAIL_SMTP_PORT"] == "2626"

    real = _env(
        {"AUTHARA_EMAIL_SMTP_HOST": "smtp.example.com", "AUTHARA_EMAIL_SMTP_TLS": "true"},
        tmp_path,
    )
    assert (real["AUTHARA_EMAIL_SMTP_HOST"], real["AUTHARA_EMAIL_SMTP_TLS"]) == (
        "smtp.example.com",
        "true",
    )


def test_the_printed_database_url_hides_the_password() -> None:
    env = {
        "POSTGRESQL_HOST": "::1",
        "POSTGRESQL_PORT": "5432",
        "POSTGRESQL_USERNAME": "authara",
        "POSTGRESQL_PASSWORD": "s3cret",
        "POSTGRESQL_DATABASE": "auth",
    }
    assert database_url(env) == "postgresql://authara:***@[::1]:5432/auth"
    assert database_url({**env, "POSTGRESQL_PASSWORD": ""}).startswith("postgresql://authara@")


def test_the_banner_points_at_the_demo_by_default(tmp_path: Path) -> None:
    lines = ready_lines(_env({}, tmp_path))

    assert lines[0] == "Authara is running at http://127.0.0.1:3000"
    assert "codes and links at http://127.0.0.1:3000/_dev/mail" in lines[1]
    assert any("http://127.0.0.1:3000/private" in line for line in lines)


def test_with_your_own_app_the_banner_sends_you_to_it_and_to_the_mail_on_the_demo(
    tmp_path: Path,
) -> None:
    lines = ready_lines(_env({"APP_UPSTREAM": "127.0.0.1:8000"}, tmp_path))
    text = "\n".join(lines)

    # The gateway no longer fronts the demo app, which serves the caught-mail pages.
    assert "codes and links at http://127.0.0.1:41002/_dev/mail" in text
    assert "/private" not in text
    assert "your app   http://127.0.0.1:3000/  (APP_UPSTREAM=127.0.0.1:8000;" in text
    assert "GATEWAY_PROTECTED_PATHS" in text
    # The mail sink's own start-up line names the same page.
    env = _env({"APP_UPSTREAM": "127.0.0.1:8000"}, tmp_path)
    assert load_sink_settings(env).page_url == "http://127.0.0.1:41002/_dev/mail"
    assert load_sink_settings(_env({}, tmp_path)).page_url == "http://127.0.0.1:3000/_dev/mail"

    protected = ready_lines(
        _env({"APP_UPSTREAM": "127.0.0.1:8000", "GATEWAY_PROTECTED_PATHS": "/me"}, tmp_path)
    )
    assert not any("GATEWAY_PROTECTED_PATHS" in line for line in protected)
