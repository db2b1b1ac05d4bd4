"""The environment-variable table and the reader every service parses its settings with.

The table is the single source of names, types, defaults and which service reads what; the
settings loaders take their defaults from it and a contract test checks that each service
reads exactly its rows. Parsing follows upstream (Go `strconv.ParseBool`, Go durations).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final, NoReturn


class AppEnv(StrEnum):
    """APP_ENV's values: prod turns on Secure cookies (and HSTS behind https)."""

    DEV = "dev"
    PROD = "prod"


class Service(StrEnum):
    """Processes that read configuration from the environment."""

    CORE = "core"
    GATEWAY = "gateway"
    MIGRATIONS = "migrations"


CORE, GATEWAY, MIGRATIONS = Service.CORE, Service.GATEWAY, Service.MIGRATIONS
_DB = frozenset({CORE, MIGRATIONS})


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One row of the environment table."""

    name: str
    kind: str
    default: str | None
    required: bool
    services: frozenset[Service]
    doc: str
    # Services that read a `required` variable but can run without it (the gateway only
    # forwards identity when the JWT keys and issuer are set).
    optional_for: frozenset[Service] = frozenset()

    def required_for(self, service: Service) -> bool:
        """Tell whether this service refuses to start without the variable."""
        return self.required and service not in self.optional_for


def _v(
    name: str,
    kind: str,
    default: str | None,
    services: Iterable[Service],
    doc: str,
    *,
    required: bool = False,
    optional_for: Iterable[Service] = (),
) -> EnvVar:
    return EnvVar(name, kind, default, required, frozenset(services), doc, frozenset(optional_for))


ENV_VARS: Final[tuple[EnvVar, ...]] = (
    _v("APP_ENV", "enum dev|prod", "dev", [CORE, GATEWAY], "prod turns on Secure cookies"),
    _v(
        "LOG_LEVEL",
        "enum debug|info|warn|error",
        None,
        [CORE, GATEWAY, MIGRATIONS],
        "default debug in dev, info in prod",
    ),
    _v(
        "LOG_FORMAT",
        "enum json|text",
        None,
        [CORE, GATEWAY],
        "json: one JSON object per line (the images and compose set it); text (when unset): "
        "readable lines for dev",
    ),
    _v("POSTGRESQL_HOST", "string", None, _DB, "host name, IP or socket directory", required=True),
    _v("POSTGRESQL_PORT", "int", None, _DB, "1-65535", required=True),
    _v("POSTGRESQL_DATABASE", "string", None, _DB, "database name", required=True),
    _v("POSTGRESQL_USERNAME", "string", None, _DB, "database user", required=True),
    _v(
        "POSTGRESQL_PASSWORD",
        "string",
        None,
        _DB,
        "the database user's password (empty only for a server with trust auth)",
        required=True,
    ),
    _v("POSTGRESQL_SCHEMA", "string", "authara", _DB, "schema holding Authara's tables"),
    _v(
        "POSTGRESQL_SSLMODE",
        "enum disable|require|verify-ca|verify-full",
        "disable",
        _DB,
        "TLS to PostgreSQL (libpq's meanings): require encrypts without checking the server, "
        "verify-ca also checks its certificate chain, verify-full also its host name",
    ),
    _v(
        "POSTGRESQL_SSLROOTCERT",
        "path",
        None,
        _DB,
        "PEM file of the CA(s) verify-ca/verify-full trust; unset = the system's trust store",
    ),
    _v("POSTGRESQL_TIMEZONE", "string", "UTC", [CORE], "session time zone"),
    _v("AUTHARA_DB_MAX_OPEN_CONNS", "int", "40", [CORE], "connection pool size, > 0"),
    _v(
        "AUTHARA_DB_PGBOUNCER",
        "bool",
        "false",
        [CORE],
        "core connects through PgBouncer in transaction pooling mode: no prepared-statement "
        "cache, every statement in a transaction, the schema set per transaction",
    ),
    _v(
        "AUTHARA_DB_ACQUIRE_TIMEOUT",
        "duration",
        "5s",
        [CORE],
        "waiting for a pooled connection (opening one included), > 0; past it the request gets 503",
    ),
    _v(
        "AUTHARA_DB_STATEMENT_TIMEOUT",
        "duration",
        "5s",
        [CORE],
        "deadline for each database statement, > 0; past it the connection is discarded and "
        "the request gets 503",
    ),
    _v(
        "AUTHARA_BIND",
        "host:port",
        "0.0.0.0:8080",
        [CORE],
        "core's listen address (upstream fixes :8080)",
    ),
    _v(
        "AUTHARA_METRICS_BIND",
        "host:port",
        None,
        [CORE],
        "Prometheus /metrics listener, off when unset; never expose it publicly; with "
        "AUTHARA_WORKERS=N worker i (0..N-1) listens on port+i",
    ),
    _v("PUBLIC_URL", "url", None, [CORE], "scheme://host[:port], no path", required=True),
    _v("AUTHARA_DEFAULT_RETURN_TO", "string", "/", [CORE], "must pass the return_to rule"),
    _v(
        "AUTHARA_HSTS_MAX_AGE",
        "int",
        "31536000",
        [CORE],
        "Strict-Transport-Security max-age in seconds, sent when APP_ENV=prod and PUBLIC_URL is "
        "https; 0 = no header",
    ),
    _v(
        "AUTHARA_HSTS_INCLUDE_SUBDOMAINS",
        "bool",
        "false",
        [CORE],
        "add includeSubDomains to Strict-Transport-Security (only if every subdomain is https)",
    ),
    _v(
        "AUTHARA_JWT_ISSUER",
        "string",
        None,
        [CORE, GATEWAY],
        "required by core; enables identity forwarding in the gateway",
        required=True,
        optional_for=[GATEWAY],
    ),
    _v("AUTHARA_JWT_ACTIVE_KEY_ID", "string", None, [CORE], "kid used to sign", required=True),
    _v(
        "AUTHARA_ORGANIZATION_MODE",
        "enum personal|single|multi",
        "personal",
        [CORE],
        "pinned in the database on first start; core refuses to start with another value",
    ),
    _v(
        "AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED",
        "bool",
        "false",
        [CORE],
        "serves the public management routes (404 while off); reported by GET /capabilities",
    ),
    _v(
        "AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED",
        "bool",
        "false",
        [CORE],
        "only emails on the admin console's allowlist may sign up or sign in",
    ),
    _v(
        "AUTHARA_ADMIN_AUDIT_RETENTION_DAYS",
        "int",
        "180",
        [CORE],
        "days admin audit events are kept, > 0",
    ),
    _v(
        "AUTHARA_ORGANIZATION_INVITATION_TTL",
        "duration",
        "168h",
        [CORE],
        "lifetime of an organization invitation, > 0",
    ),
    _v(
        "AUTHARA_CHALLENGE_ENABLED",
        "bool",
        "false",
        [CORE],
        (
            "signup by emailed code (and email change); password reset is always available;"
            " with APP_ENV=prod needs AUTHARA_EMAIL_PROVIDER=smtp"
        ),
    ),
    _v(
        "AUTHARA_CHALLENGE_TTL",
        "duration",
        "30m",
        [CORE],
        "lifetime of an email challenge (signup, password reset, email change), > 0",
    ),
    _v(
        "AUTHARA_CHALLENGE_VERIFICATION_CODE_TTL",
        "duration",
        "10m",
        [CORE],
        "lifetime of an emailed code, > 0 and <= AUTHARA_CHALLENGE_TTL",
    ),
    _v(
        "AUTHARA_CHALLENGE_MAX_ATTEMPTS",
        "int",
        "5",
        [CORE],
        "wrong codes a challenge takes before it refuses every code, > 0",
    ),
    _v(
        "AUTHARA_CHALLENGE_MAX_RESENDS",
        "int",
        "3",
        [CORE],
        "new codes a challenge may ask for, >= 0",
    ),
    _v(
        "AUTHARA_CHALLENGE_MIN_RESEND_INTERVAL",
        "duration",
        "30s",
        [CORE],
        "time between two sends of a challenge's code, >= 0",
    ),
    _v(
        "AUTHARA_INVITATION_EMAIL_INCLUDE_CODE",
        "bool",
        "false",
        [CORE],
        "add the invitation's raw token to its email as a code (for signup by invitation code)",
    ),
    _v(
        "AUTHARA_INTERNAL_API_TOKEN",
        "secret string",
        "",
        [CORE],
        "bearer token of /auth/internal/v1; empty refuses every internal call (401)",
    ),
    _v(
        "AUTHARA_JWT_KEYS",
        "map kid:base64",
        None,
        [CORE, GATEWAY],
        "each key >= 32 bytes; required by core",
        required=True,
        optional_for=[GATEWAY],
    ),
    _v("AUTHARA_ACCESS_TOKEN_TTL_MINUTES", "int", "10", [CORE], "> 0, below refresh TTL"),
    _v("AUTHARA_SESSION_TTL_DAYS", "int", "60", [CORE], "absolute session lifetime, > 0"),
    _v("AUTHARA_REFRESH_TOKEN_TTL_DAYS", "int", "14", [CORE], "> 0, <= session TTL"),
    _v(
        "AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL",
        "rotation",
        "24h",
        [CORE],
        "off|always|Go duration",
    ),
    _v(
        "AUTHARA_REFRESH_TOKEN_REUSE_GRACE",
        "duration",
        "10s",
        [CORE],
        "a replay of the just-rotated token within this window gets the same successor; 0 = strict",
    ),
    _v("AUTHARA_PASSWORD_HASH_TIME_COST", "int", "3", [CORE], "argon2id t"),
    _v("AUTHARA_PASSWORD_HASH_MEMORY_KIB", "int", "65536", [CORE], "argon2id m in KiB"),
    _v("AUTHARA_PASSWORD_HASH_PARALLELISM", "int", "4", [CORE], "argon2id p"),
    _v(
        "AUTHARA_PASSWORD_HASH_WORKERS",
        "int",
        "2",
        [CORE],
        "threads hashing passwords off the event loop",
    ),
    _v(
        "AUTHARA_SESSION_CLEANUP_INTERVAL",
        "duration",
        "5m",
        [CORE],
        "how often expired sessions and their refresh tokens are deleted",
    ),
    _v(
        "AUTHARA_WORKERS",
        "int",
        "1",
        [CORE],
        "server processes sharing the port (SO_REUSEPORT); each has its own pool of "
        "AUTHARA_DB_MAX_OPEN_CONNS and counts 1/N of every rate limit",
    ),
    _v(
        "AUTHARA_SHUTDOWN_TIMEOUT",
        "duration",
        "10s",
        [CORE],
        "on SIGTERM, how long in-flight requests may take to finish",
    ),
    _v(
        "AUTHARA_CACHE_PROVIDER",
        "enum noop|redis",
        "noop",
        [CORE, GATEWAY],
        "redis: rate limits shared by every core replica and worker, and access tokens revoked "
        "at once (core and gateway); noop: per-process limits, tokens live until they expire",
    ),
    _v(
        "AUTHARA_REDIS_HOST",
        "string",
        "localhost",
        [CORE, GATEWAY],
        "Redis host name or IP (non-empty when AUTHARA_CACHE_PROVIDER=redis)",
    ),
    _v("AUTHARA_REDIS_PORT", "int", "6379", [CORE, GATEWAY], "Redis port, 1-65535"),
    _v("AUTHARA_REDIS_PASSWORD", "string", None, [CORE, GATEWAY], "Redis password (AUTH)"),
    _v("AUTHARA_REDIS_DB", "int", "0", [CORE, GATEWAY], "Redis database number, >= 0"),
    _v(
        "AUTHARA_TRUST_PROXY_HEADERS",
        "bool",
        "false",
        [CORE],
        "take the client IP from the last X-Forwarded-For entry (set behind the gateway)",
    ),
    _v("AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT", "int", "5", [CORE], "attempts per window, > 0"),
    _v("AUTHARA_RATE_LIMIT_LOGIN_IP_WINDOW", "duration", "1m", [CORE], "fixed window, > 0"),
    _v("AUTHARA_RATE_LIMIT_LOGIN_EMAIL_LIMIT", "int", "10", [CORE], "attempts per window, > 0"),
    _v("AUTHARA_RATE_LIMIT_LOGIN_EMAIL_WINDOW", "duration", "1h", [CORE], "fixed window, > 0"),
    _v("AUTHARA_RATE_LIMIT_SIGNUP_IP_LIMIT", "int", "3", [CORE], "attempts per window, > 0"),
    _v("AUTHARA_RATE_LIMIT_SIGNUP_IP_WINDOW", "duration", "1h", [CORE], "fixed window, > 0"),
    _v("AUTHARA_RATE_LIMIT_SIGNUP_EMAIL_LIMIT", "int", "3", [CORE], "attempts per window, > 0"),
    _v("AUTHARA_RATE_LIMIT_SIGNUP_EMAIL_WINDOW", "duration", "24h", [CORE], "fixed window, > 0"),
    _v(
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_IP_LIMIT", "int", "5", [CORE], "attempts per window, > 0"
    ),
    _v(
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_IP_WINDOW", "duration", "1h", [CORE], "fixed window, > 0"
    ),
    _v(
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_EMAIL_LIMIT",
        "int",
        "3",
        [CORE],
        "attempts per window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_EMAIL_WINDOW",
        "duration",
        "24h",
        [CORE],
        "fixed window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_CHALLENGE_VERIFY_IP_LIMIT",
        "int",
        "30",
        [CORE],
        "code verifications per window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_CHALLENGE_VERIFY_IP_WINDOW",
        "duration",
        "10m",
        [CORE],
        "fixed window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_CHALLENGE_RESEND_IP_LIMIT",
        "int",
        "10",
        [CORE],
        "code resends per window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_CHALLENGE_RESEND_IP_WINDOW",
        "duration",
        "1h",
        [CORE],
        "fixed window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_PASSKEY_LOGIN_IP_LIMIT",
        "int",
        "30",
        [CORE],
        "passkey sign-in options (and, counted apart, finishes) per window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_PASSKEY_LOGIN_IP_WINDOW",
        "duration",
        "10m",
        [CORE],
        "fixed window, > 0",
    ),
    _v(
        "AUTHARA_RATE_LIMIT_CLEANUP_EVERY",
        "int",
        "200",
        [CORE],
        "sweep expired counters every N hits",
    ),
    _v("AUTHARA_RATE_LIMIT_MAX_ENTRIES", "int", "50000", [CORE], "hard cap on counters in memory"),
    _v(
        "AUTHARA_PASSWORD_HASH_MAX_QUEUE",
        "int",
        "32",
        [CORE],
        "hashes waiting for a worker before login/signup answer 503",
    ),
    _v(
        "AUTHARA_OAUTH_PROVIDERS",
        "csv",
        None,
        [CORE],
        "sign-in providers, e.g. google,github,corp; each reads the AUTHARA_OAUTH_<NAME>_* rows",
    ),
    _v(
        "AUTHARA_OAUTH_HTTP_TIMEOUT",
        "duration",
        "10s",
        [CORE],
        "deadline for each call to a sign-in provider (discovery, keys, token, user info), > 0",
    ),
    _v(
        "AUTHARA_APP_NAME",
        "string",
        None,
        [CORE],
        "name in the pages' header and titles and the mail sender's display name; at most "
        "60 characters; unset: titles say Authara and pages have no header",
    ),
    _v(
        "AUTHARA_BRAND_LOGO_URL",
        "string",
        None,
        [CORE],
        "logo in the pages' header: an https URL (http only for localhost), a path on this "
        "origin, or /auth/brand/<file> with AUTHARA_BRAND_DIR",
    ),
    _v(
        "AUTHARA_BRAND_COLOR",
        "string",
        None,
        [CORE],
        "#rrggbb for buttons (text color chosen for 4.5:1 contrast) and links where readable",
    ),
    _v(
        "AUTHARA_BRAND_DIR",
        "path",
        None,
        [CORE],
        "directory of images (png, jpg, webp, svg, ico) core serves under /auth/brand/",
    ),
    _v(
        "AUTHARA_EMAIL_PROVIDER",
        "enum noop|smtp",
        "noop",
        [CORE],
        "how queued email leaves: noop logs each mail's recipient and template and sends nothing",
    ),
    _v(
        "AUTHARA_EMAIL_FROM",
        "string",
        None,
        [CORE],
        "From of every mail, an RFC 5322 address (`Name <a@b>` or `a@b`); required with smtp",
    ),
    _v("AUTHARA_EMAIL_SMTP_HOST", "string", None, [CORE], "SMTP server; required with smtp"),
    _v("AUTHARA_EMAIL_SMTP_PORT", "int", "587", [CORE], "1-65535 (587: submission)"),
    _v(
        "AUTHARA_EMAIL_SMTP_USERNAME",
        "string",
        None,
        [CORE],
        "with the password: AUTH (PLAIN when offered) after STARTTLS; set both or neither",
    ),
    _v(
        "AUTHARA_EMAIL_SMTP_PASSWORD",
        "secret string",
        None,
        [CORE],
        "SMTP password; set both or neither",
    ),
    _v(
        "AUTHARA_EMAIL_SMTP_TLS",
        "bool",
        "true",
        [CORE],
        "require STARTTLS (TLS 1.2+, certificate verified); must be true with smtp in prod",
    ),
    _v(
        "AUTHARA_EMAIL_SMTP_CA_FILE",
        "path",
        None,
        [CORE],
        "PEM file of the CAs that may sign the SMTP server's certificate; default the system's",
    ),
    _v(
        "AUTHARA_EMAIL_SMTP_TIMEOUT",
        "duration",
        "10s",
        [CORE],
        "deadline for one whole send (connect to QUIT), > 0; a job claimed 3x this long ago "
        "by a worker that died is sent again",
    ),
    _v(
        "AUTHARA_EMAIL_WORKER_COUNT",
        "int",
        "2",
        [CORE],
        "mail workers in each core process (each sends one mail at a time), > 0",
    ),
    _v(
        "AUTHARA_EMAIL_WORKER_POLL_INTERVAL",
        "duration",
        "2s",
        [CORE],
        "how often an idle worker looks for due mail, > 0",
    ),
    _v(
        "AUTHARA_EMAIL_JOB_MAX_ATTEMPTS",
        "int",
        "10",
        [CORE],
        "sends of one mail before it is marked failed (retries back off from 30s to 1h), > 0",
    ),
    _v(
        "AUTHARA_EMAIL_CLEANUP_SENT_AFTER",
        "duration",
        "720h",
        [CORE],
        "sent mail jobs are deleted this long after sending, > 0",
    ),
    _v(
        "AUTHARA_EMAIL_CLEANUP_FAILED_AFTER",
        "duration",
        "2160h",
        [CORE],
        "failed mail jobs are deleted this long after failing, > 0",
    ),
    _v(
        "AUTHARA_WEBHOOK_URL",
        "url",
        None,
        [CORE],
        "where events are POSTed (http or https); webhooks are on when this and the secret are set",
    ),
    _v(
        "AUTHARA_WEBHOOK_SECRET",
        "string",
        None,
        [CORE],
        "HMAC-SHA256 key of both signatures; set with the URL; >= 32 characters in prod",
    ),
    _v(
        "AUTHARA_WEBHOOK_ENABLED_EVENTS",
        "csv",
        None,
        [CORE],
        "event types recorded (known names, no duplicates); empty = all",
    ),
    _v(
        "AUTHARA_WEBHOOK_TIMEOUT",
        "duration",
        "5s",
        [CORE],
        "whole delivery attempt (connect to last body byte), > 0 and < PROCESSING_STALE_AFTER",
    ),
    _v("AUTHARA_WEBHOOK_WORKER_COUNT", "int", "2", [CORE], "delivery workers per process, > 0"),
    _v(
        "AUTHARA_WEBHOOK_MAX_DELIVERY_ATTEMPTS",
        "int",
        "3",
        [CORE],
        "attempts per event (retries after 30s, then 2m) before it is marked failed, > 0",
    ),
    _v(
        "AUTHARA_WEBHOOK_PROCESSING_STALE_AFTER",
        "duration",
        "2m",
        [CORE],
        "a claim this old belongs to a worker that died: the event is delivered again, > 0",
    ),
    _v(
        "AUTHARA_WEBHOOK_STALE_REAPER_INTERVAL",
        "duration",
        "1m",
        [CORE],
        "how often stale claims are put back in the queue, > 0",
    ),
    _v(
        "AUTHARA_WEBHOOK_DELIVERED_RETENTION",
        "duration",
        "24h",
        [CORE],
        "delivered events are deleted this long after delivery, > 0",
    ),
    _v(
        "AUTHARA_WEBHOOK_FAILED_RETENTION",
        "duration",
        "720h",
        [CORE],
        "failed events are deleted this long after failing, > 0",
    ),
    _v(
        "AUTHARA_WEBHOOK_CLEANUP_INTERVAL",
        "duration",
        "1h",
        [CORE],
        "how often delivered and failed events past retention are deleted, > 0",
    ),
    _v(
        "AUTHARA_WEBHOOK_MAINTENANCE_BATCH_SIZE",
        "int",
        "1000",
        [CORE],
        "rows reaped or deleted per statement, > 0",
    ),
    _v("GATEWAY_BIND", "host:port", ":3000", [GATEWAY], "gateway listen address"),
    _v(
        "GATEWAY_METRICS_BIND",
        "host:port",
        None,
        [GATEWAY],
        "Prometheus /metrics listener, off when unset; never routed through the gateway; with "
        "GATEWAY_WORKERS=N worker i (0..N-1) listens on port+i",
    ),
    _v(
        "AUTHARA_UPSTREAM",
        "host:port list",
        None,
        [GATEWAY],
        "core address(es), comma-separated: round-robin, a failing one skipped for a while",
        required=True,
    ),
    _v(
        "APP_UPSTREAM",
        "host:port list",
        None,
        [GATEWAY],
        "application address(es), comma-separated: round-robin like AUTHARA_UPSTREAM",
        required=True,
    ),
    _v(
        "ENABLE_COMPRESSION",
        "bool",
        "true",
        [GATEWAY],
        "zstd or gzip for responses the upstream left plain",
    ),
    _v("AUTO_HTTPS", "string", "off", [GATEWAY], "accepted; TLS terminates in front"),
    _v(
        "GATEWAY_TRUSTED_PROXIES",
        "ip/cidr list",
        None,
        [GATEWAY],
        "proxies whose X-Forwarded-* the gateway keeps; the client is the right-most"
        " X-Forwarded-For address outside these ranges; none by default",
    ),
    _v(
        "GATEWAY_PROTECTED_PATHS",
        "path prefix list",
        None,
        [GATEWAY],
        "anonymous requests under these prefixes: browsers to the login page, others 401",
    ),
    _v("GATEWAY_CONNECT_TIMEOUT", "duration", "5s", [GATEWAY], "connecting to an upstream, > 0"),
    _v(
        "GATEWAY_READ_TIMEOUT",
        "duration",
        "5m",
        [GATEWAY],
        "waiting for response headers or the next body bytes; 0 = none; EventSource streams exempt",
    ),
    _v(
        "GATEWAY_UPSTREAM_FAIL_DURATION",
        "duration",
        "10s",
        [GATEWAY],
        "how long an upstream that refused or dropped a connection is skipped; 0 = never skipped",
    ),
    _v(
        "GATEWAY_WORKERS",
        "int",
        "1",
        [GATEWAY],
        "worker processes sharing the port (SO_REUSEPORT); the number of cores uses them all",
    ),
    _v(
        "GATEWAY_SHUTDOWN_TIMEOUT",
        "duration",
        "10s",
        [GATEWAY],
        "on SIGTERM, how long in-flight requests may take to finish",
    ),
)

BY_NAME: Final[Mapping[str, EnvVar]] = {var.name: var for var in ENV_VARS}


def vars_for(service: Service) -> tuple[EnvVar, ...]:
    """Return the rows one service reads."""
    return tuple(var for var in ENV_VARS if service in var.services)


NAME_PLACEHOLDER: Final = "<NAME>"
# Rows naming one variable per sign-in provider: `<NAME>` is each name in
# AUTHARA_OAUTH_PROVIDERS in upper case (corp → AUTHARA_OAUTH_CORP_CLIENT_ID). Core reads them
# only for the names listed there; defaults come from the google/github presets.
ENV_PATTERNS: Final[tuple[EnvVar, ...]] = (
    _v(
        "AUTHARA_OAUTH_<NAME>_CLIENT_ID",
        "string",
        None,
        [CORE],
        "client id registered with the provider, required (as upstream's google one)",
    ),
    _v(
        "AUTHARA_OAUTH_<NAME>_CLIENT_SECRET",
        "string",
        None,
        [CORE],
        "client secret; required for github; google without one offers only the ID-token API",
    ),
    _v(
        "AUTHARA_OAUTH_<NAME>_ISSUER",
        "url",
        None,
        [CORE],
        "OIDC issuer (discovery base URL), required for other names; presets: google"
        " https://accounts.google.com, github https://github.com (its web base URL)",
    ),
    _v(
        "AUTHARA_OAUTH_<NAME>_API_URL",
        "url",
        None,
        [CORE],
        "github only: REST API base URL, default https://api.github.com",
    ),
    _v(
        "AUTHARA_OAUTH_<NAME>_SCOPES",
        "string list",
        None,
        [CORE],
        "space- or comma-separated; default openid email profile (github: read:user user:email)",
    ),
    _v(
        "AUTHARA_OAUTH_<NAME>_DISPLAY_NAME",
        "string",
        None,
        [CORE],
        "button label; default Google, GitHub or the name",
    ),
)


def expand(pattern: EnvVar, name: str) -> str:
    """Return the variable a pattern row names for one provider name."""
    return pattern.name.replace(NAME_PLACEHOLDER, name.upper())


def lookup(name: str) -> EnvVar | None:
    """Return the row for a variable name: a table row, or the pattern row it instantiates."""
    exact = BY_NAME.get(name)
    if exact is not None:
        return exact
    for pattern in ENV_PATTERNS:
        prefix, _, suffix = pattern.name.partition(NAME_PLACEHOLDER)
        fits = name.startswith(prefix) and name.endswith(suffix)
        if fits and len(name) > len(prefix) + len(suffix):
            return pattern
    return None


class SettingsError(Exception):
    """Every problem found in the environment, reported at once."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line naming every bad variable and why."""
        details = "; ".join(f"{name}: {why}" for name, why in self.problems)
        return f"invalid configuration: {details}"


_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_bool(raw: str) -> bool:
    """Parse a boolean the way Go's strconv.ParseBool does."""
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError("must be true or false")


def parse_duration(raw: str) -> timedelta:
    """Parse a Go duration such as `30s`, `1h30m` or `720h`."""
    text = raw.strip()
    if text == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise ValueError("must be a duration such as 30s, 15m or 24h")
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text:
        raise ValueError("must be a duration such as 30s, 15m or 24h")
    return timedelta(seconds=seconds)


def parse_host_port(raw: str) -> tuple[str, int]:
    """Split `host:port` (host may be empty for all interfaces, or a [v6] literal)."""
    host, sep, port_text = raw.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("must look like host:port with a port from 1 to 65535")
    return host.strip("[]") or "0.0.0.0", int(port_text)


class EnvReader:
    """Read typed values from an environment, gathering every problem before failing."""

    def __init__(self, environ: Mapping[str, str], service: Service) -> None:
        self._environ = environ
        self._service = service
        self.problems: list[tuple[str, str]] = []
        self.accessed: set[str] = set()

    def raw(self, name: str) -> str | None:
        """Return the value as set, else the table default (None when there is none)."""
        var = lookup(name)
        if var is None:
            raise KeyError(f"{name} is not in the contract table")
        if self._service not in var.services:
            raise KeyError(f"{name} is not a {self._service} variable in the contract table")
        self.accessed.add(name)
        value = self._environ.get(name)
        if value is None:
            if var.required_for(self._service):
                self.fail(name, "is required")
            return var.default
        return value

    def fail(self, name: str, why: str) -> None:
        """Record a problem with one variable."""
        self.problems.append((name, why))

    def string(self, name: str, *, allow_empty: bool = False) -> str:
        """Read a string; empty is an error unless allowed."""
        value = self.raw(name)
        if value is None:
            return ""
        value = value.strip()
        if not value and not allow_empty:
            self.fail(name, "must not be empty")
        return value

    def optional(self, name: str) -> str | None:
        """Read a string that may be absent or empty (then None)."""
        value = self.raw(name)
        return value.strip() or None if value is not None else None

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        """Read a base-10 integer within bounds."""
        value = self.raw(name)
        if value is None:
            return minimum or 0
        try:
            number = int(value.strip(), 10)
        except ValueError:
            self.fail(name, f"must be an integer, got {value!r}")
            return minimum or 0
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            bounds = f"from {minimum}" if minimum is not None else ""
            bounds += f" to {maximum}" if maximum is not None else " or more"
            self.fail(name, f"must be {bounds.strip()}, got {number}")
        return number

    def boolean(self, name: str) -> bool:
        """Read a boolean (1/t/true/0/f/false in the usual cases)."""
        value = self.raw(name)
        if value is None:
            return False
        try:
            return parse_bool(value.strip())
        except ValueError:
            self.fail(name, f"must be true or false, got {value!r}")
            return False

    def choice(self, name: str, choices: Iterable[str], *, fold_case: bool = True) -> str:
        """Read one of a fixed set of words."""
        options = tuple(choices)
        value = (self.raw(name) or "").strip()
        if fold_case:
            value = value.lower()
        if value not in options:
            self.fail(name, f"must be one of {', '.join(options)}, got {value!r}")
            return options[0]
        return value

    def duration(self, name: str) -> timedelta:
        """Read a Go duration."""
        value = self.raw(name)
        if value is None:
            return timedelta(0)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(name, f"{exc}, got {value!r}")
            return timedelta(0)

    def positive_duration(self, name: str) -> timedelta:
        """Read a Go duration that must be above zero (one second stands in for a refused one)."""
        value = self.duration(name)
        if value <= timedelta(0):
            self.fail(name, "must be a positive duration")
            return timedelta(seconds=1)
        return value

    def host_port(self, name: str) -> tuple[str, int]:
        """Read a `host:port` address."""
        value = self.string(name)
        try:
            return parse_host_port(value)
        except ValueError as exc:
            if value:
                self.fail(name, f"{exc}, got {value!r}")
            return "0.0.0.0", 1

    def optional_host_port(self, name: str) -> tuple[str, int] | None:
        """Read a `host:port` address that may be unset or empty (then None: off)."""
        value = self.optional(name)
        if value is None:
            return None
        try:
            return parse_host_port(value)
        except ValueError as exc:
            self.fail(name, f"{exc}, got {value!r}")
            return None

    def log_format(self) -> str:
        """Read LOG_FORMAT: json or text, text when unset."""
        value = (self.optional("LOG_FORMAT") or "text").lower()
        if value not in ("json", "text"):
            self.fail("LOG_FORMAT", f"must be one of json, text, got {value!r}")
            return "text"
        return value

    def finish(self) -> None:
        """Raise SettingsError naming every problem, if there were any."""
        if self.problems:
            raise SettingsError(self.problems)


def exit_on_settings_error(exc: SettingsError, program: str) -> NoReturn:
    """Print the one-line configuration error and exit with status 2."""
    import sys

    print(f"{program}: {exc.message}", file=sys.stderr)  # noqa: T201
    raise SystemExit(2)
