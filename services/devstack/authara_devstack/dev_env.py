"""The environment `authara dev` gives its services: dev defaults, overridden by the caller's.

Every service receives the same mapping. A variable already set in the environment wins over
the dev default, so `PUBLIC_URL=... authara dev` or any AUTHARA_* setting reaches every
service unchanged; the upstream addresses follow overridden bind addresses.

Core sends its mail to the stack's SMTP sink (mail_sink.py) on loopback, in plain text: TLS
off is a dev-only setting (core refuses it in prod). Set AUTHARA_EMAIL_* to use a real
SMTP server instead. Email challenges are on (signup verified by a code, email change), so
the flows a production deployment offers are the ones a developer tries; codes are read from
the stack's output or /_dev/mail. `AUTHARA_CHALLENGE_ENABLED=false authara dev` turns them off.
Webhooks are on: core delivers every event to the demo app, which shows the last ones at
/webhooks. Rate limits are generous (DEV_RATE_LIMITS) so that trying things out, failed
attempts included, is not locked out for an hour; set any AUTHARA_RATE_LIMIT_* to test them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from authara_contract.env import parse_host_port

from .dev_secrets import DevSecrets

LOOPBACK: Final = "127.0.0.1"
JWT_ISSUER: Final = "authara"
DEV_MAIL_FROM: Final = "Authara (dev) <no-reply@authara.localhost>"
_WILDCARDS: Final = {"0.0.0.0": LOOPBACK, "::": "::1"}
# Attempts per window on the dev stack; production's defaults (e.g. 3 signups an hour per IP,
# failed ones included) would stop a developer trying the pages within minutes.
DEV_RATE_LIMITS: Final = {
    f"AUTHARA_RATE_LIMIT_{name}_LIMIT": "1000"
    for name in (
        "LOGIN_IP",
        "LOGIN_EMAIL",
        "SIGNUP_IP",
        "SIGNUP_EMAIL",
        "PASSWORD_RESET_IP",
        "PASSWORD_RESET_EMAIL",
        "CHALLENGE_VERIFY_IP",
        "CHALLENGE_RESEND_IP",
        "PASSKEY_LOGIN_IP",
    )
}


@dataclass(frozen=True, slots=True)
class DevPorts:
    """Loopback ports of the gateway (public), core, the demo app and the SMTP sink."""

    gateway: int
    core: int
    demo: int
    mail: int


def reachable_address(bind: str) -> str:
    """Turn a listen address such as `0.0.0.0:8080` or `:3000` into one a client can dial."""
    host, port = parse_host_port(bind)
    host = _WILDCARDS.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gateway_url(env: Mapping[str, str]) -> str:
    """Return the base URL the gateway answers on with this environment."""
    return f"http://{reachable_address(env['GATEWAY_BIND'])}"


def _sink_address(env: Mapping[str, str]) -> tuple[str, str]:
    """Return the SMTP host and port core is given to reach the stack's mail sink."""
    host, _, port = reachable_address(env["AUTHARA_DEV_MAIL_BIND"]).rpartition(":")
    return host.strip("[]"), port


def mail_is_caught(env: Mapping[str, str]) -> bool:
    """Tell whether core sends to the stack's sink, not to an SMTP server the caller set."""
    provider = env.get("AUTHARA_EMAIL_PROVIDER", "").strip().lower()
    target = (env.get("AUTHARA_EMAIL_SMTP_HOST", "").strip(), env.get("AUTHARA_EMAIL_SMTP_PORT"))
    return provider == "smtp" and target == _sink_address(env)


def build_env(
    environ: Mapping[str, str],
    *,
    ports: DevPorts,
    secrets: DevSecrets,
    database: Mapping[str, str],
    mail_dir: Path,
) -> dict[str, str]:
    """Merge dev defaults under `environ`; raise ValueError for an unusable bind address."""
    binds = {
        "GATEWAY_BIND": f"{LOOPBACK}:{ports.gateway}",
        "AUTHARA_BIND": f"{LOOPBACK}:{ports.core}",
        "DEMO_BIND": f"{LOOPBACK}:{ports.demo}",
        "AUTHARA_DEV_MAIL_BIND": f"{LOOPBACK}:{ports.mail}",
    }
    effective = {name: environ.get(name, default) for name, default in binds.items()}
    core = reachable_address(effective["AUTHARA_BIND"])
    sink_host, sink_port = _sink_address(effective)
    defaults = {
        **binds,
        **database,
        "APP_ENV": "dev",
        "PUBLIC_URL": f"http://{reachable_address(effective['GATEWAY_BIND'])}",
        "AUTHARA_JWT_ISSUER": JWT_ISSUER,
        "AUTHARA_JWT_ACTIVE_KEY_ID": secrets.kid,
        "AUTHARA_JWT_KEYS": secrets.jwt_keys,
        "AUTHARA_UPSTREAM": core,
        "APP_UPSTREAM": reachable_address(effective["DEMO_BIND"]),
        "AUTHARA_BASE_URL": f"http://{core}",
        # Core only ever sees the gateway as its peer; the gateway records the real client.
        "AUTHARA_TRUST_PROXY_HEADERS": "true",
        "AUTHARA_EMAIL_PROVIDER": "smtp",
        "AUTHARA_EMAIL_FROM": DEV_MAIL_FROM,
        "AUTHARA_EMAIL_SMTP_HOST": sink_host,
        "AUTHARA_EMAIL_SMTP_PORT": sink_port,
        "AUTHARA_EMAIL_SMTP_TLS": "false",
        "AUTHARA_EMAIL_WORKER_POLL_INTERVAL": "500ms",
        "AUTHARA_CHALLENGE_ENABLED": "true",
        **DEV_RATE_LIMITS,
        "AUTHARA_DEV_MAIL_DIR": str(mail_dir),
        # Core delivers its webhooks to the demo app (not through the gateway); both sides
        # get the same secret: core signs, the demo verifies and lists events at /webhooks.
        "AUTHARA_WEBHOOK_URL": f"http://{reachable_address(effective['DEMO_BIND'])}/webhooks/authara",
        "AUTHARA_WEBHOOK_SECRET": secrets.webhook_secret,
        "PYTHONUNBUFFERED": "1",
    }
    merged = {**defaults, **environ}
    merged.setdefault("AUTHARA_DEV_MAIL_PAGE_URL", mail_page_url(merged))
    return merged


def database_url(env: Mapping[str, str]) -> str:
    """Return a connection string for the stack's database (the password is not shown)."""
    host = env.get("POSTGRESQL_HOST", "")
    host = f"[{host}]" if ":" in host else host
    password = ":***" if env.get("POSTGRESQL_PASSWORD") else ""
    return (
        f"postgresql://{env.get('POSTGRESQL_USERNAME', '')}{password}@{host}:"
        f"{env.get('POSTGRESQL_PORT', '')}/{env.get('POSTGRESQL_DATABASE', '')}"
    )


def serves_the_demo(env: Mapping[str, str]) -> bool:
    """Tell whether the gateway sends the app's paths to the stack's demo app."""
    demo = reachable_address(env["DEMO_BIND"])
    return [part.strip() for part in env.get("APP_UPSTREAM", "").split(",")] == [demo]


def mail_page_url(env: Mapping[str, str]) -> str:
    """Return where the caught mail is read: through the gateway, or on the demo app itself."""
    if serves_the_demo(env):
        return f"{gateway_url(env)}/_dev/mail"
    # The caught-mail pages live on the demo app, which the gateway no longer fronts.
    return f"http://{reachable_address(env['DEMO_BIND'])}/_dev/mail"


def ready_lines(env: Mapping[str, str]) -> list[str]:
    """Say what a developer needs once the stack answers: where to go and what to run."""
    base = gateway_url(env)
    lines = [f"Authara is running at {base}"]
    mail = env.get("AUTHARA_DEV_MAIL_PAGE_URL") or mail_page_url(env)
    if serves_the_demo(env):
        tries = [
            f"  try it     {base}/private  (sign up; {base}/whoami shows what your app receives)"
        ]
    else:
        protected = env.get("GATEWAY_PROTECTED_PATHS", "").strip()
        tries = [
            f"  your app   {base}/  (APP_UPSTREAM={env.get('APP_UPSTREAM', '')}; "
            "open it here, not on its own port)",
            f"  log in     {base}/auth/login  (or {base}/auth/signup)",
        ]
        if not protected:
            tries.append(
                "  protect    set GATEWAY_PROTECTED_PATHS=/your,/paths to send anonymous "
                "visitors to the login page"
            )
    if mail_is_caught(env):
        lines.append(f"Mail is caught, not delivered: codes and links at {mail}")
    lines += [
        *tries,
        f"  account    {base}/auth/account",
        f"  database   {database_url(env)}  (schema {env.get('POSTGRESQL_SCHEMA', 'authara')})",
        "  admin      .venv/bin/authara admin grant EMAIL  (another terminal, after signing up),",
        f"             then {base}/auth/admin",
        "  stop       Ctrl-C",
    ]
    return lines
