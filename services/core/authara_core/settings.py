"""Core settings: environment → frozen dataclasses, validated once before the app exists."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from authara_contract.claims import OrganizationMode
from authara_contract.database import DatabaseSettings, read_database_settings
from authara_contract.env import AppEnv, EnvReader, Service, parse_duration
from authara_contract.return_to import is_safe_return_to
from authara_contract.tokens import KeyConfigError, KeySet, parse_jwt_keys
from authara_core.mail.config import EmailProvider, MailSettings, read_mail_settings
from authara_core.oauth.config import OAuthSettings, read_oauth_settings
from authara_core.platform import brand as branding
from authara_core.platform.brand import Brand
from authara_core.platform.hasher import PasswordSettings
from authara_core.platform.ratelimit import Limit, ThrottleRules
from authara_core.webhooks.config import WebhookSettings, read_webhook_settings
from authara_runtime.cache import RedisSettings, read_cache_settings
from authara_runtime.logs import LOG_LEVELS
from authara_runtime.workers import MAX_WORKERS

# OWASP password-storage floor for argon2id (19 MiB, t=2).
MIN_HASH_MEMORY_KIB: Final = 19 * 1024
MIN_HASH_TIME_COST: Final = 2


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """When a refresh rotates its token: never, always, or once the token is this old."""

    never: bool = False
    always: bool = False
    interval: timedelta = timedelta(hours=24)

    def is_due(self, token_age: timedelta) -> bool:
        """Tell whether a token of this age should be replaced on refresh."""
        if self.never:
            return False
        return self.always or token_age >= self.interval


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """Access-token signing and session/refresh lifetimes."""

    issuer: str
    keys: KeySet
    access_ttl: timedelta = timedelta(minutes=10)
    refresh_ttl: timedelta = timedelta(days=14)
    session_ttl: timedelta = timedelta(days=60)
    rotation: RotationPolicy = RotationPolicy()
    reuse_grace: timedelta = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """Attempt limits (contract §9), and the in-memory limiter's housekeeping."""

    login: ThrottleRules
    signup: ThrottleRules
    password_reset: ThrottleRules
    challenge_verify: Limit
    challenge_resend: Limit
    passkey_login: Limit = field(default_factory=lambda: Limit(30, timedelta(minutes=10)))
    """Passkey sign-in by client IP: options and finish count in separate buckets."""
    cleanup_every: int = 200
    max_entries: int = 50000

    def per_worker(self, workers: int) -> RateLimitSettings:
        """Return the limits each of `workers` processes enforces: together they allow no more.

        Counters live in each process's memory and the kernel spreads connections over the
        workers, so every worker counts 1/N of each limit (at least 1). A client whose
        attempts all reach one worker is therefore throttled sooner, never later.
        """
        if workers == 1:
            return self
        return replace(
            self,
            login=self.login.shared_by(workers),
            signup=self.signup.shared_by(workers),
            password_reset=self.password_reset.shared_by(workers),
            challenge_verify=self.challenge_verify.shared_by(workers),
            challenge_resend=self.challenge_resend.shared_by(workers),
            passkey_login=self.passkey_login.shared_by(workers),
        )


@dataclass(frozen=True, slots=True)
class ChallengeSettings:
    """Email challenges: signup verification, password reset, email change (contract §6)."""

    enabled: bool = False
    ttl: timedelta = timedelta(minutes=30)
    code_ttl: timedelta = timedelta(minutes=10)
    max_attempts: int = 5
    max_resends: int = 3
    min_resend_interval: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything core reads from its environment."""

    app_env: AppEnv
    log_level: str
    bind_host: str
    bind_port: int
    public_url: str
    default_return_to: str
    database: DatabaseSettings
    db_pool_size: int
    db_timezone: str
    tokens: TokenSettings
    passwords: PasswordSettings
    rate_limits: RateLimitSettings
    trust_proxy_headers: bool = False
    shutdown_timeout: timedelta = timedelta(seconds=10)
    workers: int = 1
    session_cleanup_interval: timedelta = timedelta(minutes=5)
    oauth: OAuthSettings = field(default_factory=OAuthSettings)
    db_acquire_timeout: timedelta = timedelta(seconds=5)
    db_statement_timeout: timedelta = timedelta(seconds=5)
    db_pgbouncer: bool = False
    hsts_max_age: int = 31536000
    hsts_include_subdomains: bool = False
    organization_mode: OrganizationMode = OrganizationMode.PERSONAL
    public_organization_management: bool = False
    internal_api_token: str = field(default="", repr=False)  # a secret: kept out of logs
    invitation_ttl: timedelta = timedelta(hours=168)
    challenges: ChallengeSettings = field(default_factory=ChallengeSettings)
    invitation_email_include_code: bool = False
    mail: MailSettings = field(default_factory=MailSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    brand: Brand = field(default_factory=Brand)
    allowlist_enabled: bool = False
    audit_retention: timedelta = timedelta(days=180)
    cache: RedisSettings | None = None
    log_format: str = "text"
    metrics_bind: tuple[str, int] | None = None

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry `Secure` exactly in prod."""
        return self.app_env is AppEnv.PROD

    @property
    def hsts(self) -> str | None:
        """The Strict-Transport-Security value: prod behind an https PUBLIC_URL, max-age > 0."""
        if self.app_env is not AppEnv.PROD or not self.public_url.startswith("https://"):
            return None
        if self.hsts_max_age == 0:
            return None
        value = f"max-age={self.hsts_max_age}"
        return f"{value}; includeSubDomains" if self.hsts_include_subdomains else value


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Parse and validate core's environment; raise SettingsError naming every problem."""
    reader = EnvReader(environ, Service.CORE)
    app_env = AppEnv(reader.choice("APP_ENV", [e.value for e in AppEnv]))
    log_level = _log_level(reader, app_env)
    bind_host, bind_port = reader.host_port("AUTHARA_BIND")
    public_url = _public_url(reader)
    settings = Settings(
        app_env=app_env,
        log_level=log_level,
        bind_host=bind_host,
        bind_port=bind_port,
        public_url=public_url,
        default_return_to=_default_return_to(reader),
        database=read_database_settings(reader),
        db_pool_size=reader.integer("AUTHARA_DB_MAX_OPEN_CONNS", minimum=1),
        db_timezone=_timezone(reader),
        tokens=_token_settings(reader),
        passwords=_password_settings(reader),
        rate_limits=_rate_limits(reader),
        trust_proxy_headers=reader.boolean("AUTHARA_TRUST_PROXY_HEADERS"),
        shutdown_timeout=reader.duration("AUTHARA_SHUTDOWN_TIMEOUT"),
        workers=reader.integer("AUTHARA_WORKERS", minimum=1, maximum=MAX_WORKERS),
        session_cleanup_interval=reader.positive_duration("AUTHARA_SESSION_CLEANUP_INTERVAL"),
        oauth=read_oauth_settings(reader, public_url=public_url, prod=app_env is AppEnv.PROD),
        db_acquire_timeout=reader.positive_duration("AUTHARA_DB_ACQUIRE_TIMEOUT"),
        db_statement_timeout=reader.positive_duration("AUTHARA_DB_STATEMENT_TIMEOUT"),
        db_pgbouncer=reader.boolean("AUTHARA_DB_PGBOUNCER"),
        hsts_max_age=reader.integer("AUTHARA_HSTS_MAX_AGE", minimum=0),
        hsts_include_subdomains=reader.boolean("AUTHARA_HSTS_INCLUDE_SUBDOMAINS"),
        organization_mode=OrganizationMode(
            reader.choice("AUTHARA_ORGANIZATION_MODE", [m.value for m in OrganizationMode])
        ),
        public_organization_management=reader.boolean(
            "AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED"
        ),
        internal_api_token=(reader.optional("AUTHARA_INTERNAL_API_TOKEN") or "").strip(),
        invitation_ttl=reader.positive_duration("AUTHARA_ORGANIZATION_INVITATION_TTL"),
        challenges=_challenge_settings(reader),
        invitation_email_include_code=reader.boolean("AUTHARA_INVITATION_EMAIL_INCLUDE_CODE"),
        mail=read_mail_settings(reader, prod=app_env is AppEnv.PROD),
        webhooks=read_webhook_settings(reader, prod=app_env is AppEnv.PROD),
        brand=_brand(reader),
        allowlist_enabled=reader.boolean("AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED"),
        cache=read_cache_settings(reader),
        log_format=reader.log_format(),
        metrics_bind=reader.optional_host_port("AUTHARA_METRICS_BIND"),
        audit_retention=timedelta(
            days=reader.integer("AUTHARA_ADMIN_AUDIT_RETENTION_DAYS", minimum=1)
        ),
    )
    _validate_cross(reader, settings)
    reader.finish()
    return settings


def _log_level(reader: EnvReader, app_env: AppEnv) -> str:
    value = (reader.optional("LOG_LEVEL") or "").lower()
    if not value:
        return "info" if app_env is AppEnv.PROD else "debug"
    if value not in LOG_LEVELS:
        reader.fail("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value


def _timezone(reader: EnvReader) -> str:
    value = reader.string("POSTGRESQL_TIMEZONE")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        reader.fail("POSTGRESQL_TIMEZONE", f"must be a time zone name such as UTC, got {value!r}")
        return "UTC"
    return value


def _public_url(reader: EnvReader) -> str:
    raw = reader.string("PUBLIC_URL")
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.fail("PUBLIC_URL", f"must be an http(s) URL with a host, got {raw!r}")
    elif parts.path not in ("",) or parts.query or parts.fragment:
        reader.fail("PUBLIC_URL", f"must have no path, query or trailing slash, got {raw!r}")
    return raw


def _default_return_to(reader: EnvReader) -> str:
    value = reader.string("AUTHARA_DEFAULT_RETURN_TO")
    if value and not is_safe_return_to(value):
        reader.fail("AUTHARA_DEFAULT_RETURN_TO", "must be a local path starting with a single /")
        return "/"
    return value or "/"


def _token_settings(reader: EnvReader) -> TokenSettings:
    issuer = reader.string("AUTHARA_JWT_ISSUER")
    active = reader.string("AUTHARA_JWT_ACTIVE_KEY_ID")
    raw_keys = reader.string("AUTHARA_JWT_KEYS")
    keys = KeySet({"_": b"\0" * 32}, "_")
    if raw_keys:
        try:
            parsed = parse_jwt_keys(raw_keys)
        except KeyConfigError as exc:
            reader.fail("AUTHARA_JWT_KEYS", str(exc))
        else:
            if active and active not in parsed:
                reader.fail(
                    "AUTHARA_JWT_ACTIVE_KEY_ID", f"{active!r} is not a key id in AUTHARA_JWT_KEYS"
                )
            else:
                keys = KeySet(parsed, active or next(iter(parsed)))
    return TokenSettings(
        issuer=issuer,
        keys=keys,
        access_ttl=timedelta(minutes=reader.integer("AUTHARA_ACCESS_TOKEN_TTL_MINUTES", minimum=1)),
        refresh_ttl=timedelta(days=reader.integer("AUTHARA_REFRESH_TOKEN_TTL_DAYS", minimum=1)),
        session_ttl=timedelta(days=reader.integer("AUTHARA_SESSION_TTL_DAYS", minimum=1)),
        rotation=_rotation(reader),
        reuse_grace=reader.duration("AUTHARA_REFRESH_TOKEN_REUSE_GRACE"),
    )


def _rotation(reader: EnvReader) -> RotationPolicy:
    raw = (reader.raw("AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL") or "").strip()
    if raw.lower() in ("", "0", "disabled", "off"):
        return RotationPolicy(never=True)
    if raw.lower() == "always":
        return RotationPolicy(always=True)
    try:
        interval = parse_duration(raw)
    except ValueError:
        reader.fail(
            "AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL",
            f"must be off, always or a duration such as 24h, got {raw!r}",
        )
        return RotationPolicy()
    return RotationPolicy(interval=interval)


def _password_settings(reader: EnvReader) -> PasswordSettings:
    time_cost = reader.integer("AUTHARA_PASSWORD_HASH_TIME_COST", minimum=1)
    memory = reader.integer("AUTHARA_PASSWORD_HASH_MEMORY_KIB", minimum=1)
    if memory < MIN_HASH_MEMORY_KIB:
        reader.fail(
            "AUTHARA_PASSWORD_HASH_MEMORY_KIB",
            f"must be at least {MIN_HASH_MEMORY_KIB} (OWASP floor)",
        )
    if time_cost < MIN_HASH_TIME_COST:
        reader.fail(
            "AUTHARA_PASSWORD_HASH_TIME_COST",
            f"must be at least {MIN_HASH_TIME_COST} (OWASP floor)",
        )
    return PasswordSettings(
        time_cost=time_cost,
        memory_kib=memory,
        parallelism=reader.integer("AUTHARA_PASSWORD_HASH_PARALLELISM", minimum=1, maximum=64),
        workers=reader.integer("AUTHARA_PASSWORD_HASH_WORKERS", minimum=1, maximum=64),
        max_queue=reader.integer("AUTHARA_PASSWORD_HASH_MAX_QUEUE", minimum=1),
    )


def _limit(reader: EnvReader, kind: str) -> Limit:
    limit = reader.integer(f"AUTHARA_RATE_LIMIT_{kind}_LIMIT", minimum=1)
    return Limit(limit, reader.positive_duration(f"AUTHARA_RATE_LIMIT_{kind}_WINDOW"))


def _rate_limits(reader: EnvReader) -> RateLimitSettings:
    return RateLimitSettings(
        login=ThrottleRules(ip=_limit(reader, "LOGIN_IP"), email=_limit(reader, "LOGIN_EMAIL")),
        signup=ThrottleRules(ip=_limit(reader, "SIGNUP_IP"), email=_limit(reader, "SIGNUP_EMAIL")),
        password_reset=ThrottleRules(
            ip=_limit(reader, "PASSWORD_RESET_IP"), email=_limit(reader, "PASSWORD_RESET_EMAIL")
        ),
        challenge_verify=_limit(reader, "CHALLENGE_VERIFY_IP"),
        challenge_resend=_limit(reader, "CHALLENGE_RESEND_IP"),
        passkey_login=_limit(reader, "PASSKEY_LOGIN_IP"),
        cleanup_every=reader.integer("AUTHARA_RATE_LIMIT_CLEANUP_EVERY", minimum=1),
        max_entries=reader.integer("AUTHARA_RATE_LIMIT_MAX_ENTRIES", minimum=1),
    )


def _challenge_settings(reader: EnvReader) -> ChallengeSettings:
    ttl = reader.positive_duration("AUTHARA_CHALLENGE_TTL")
    code_ttl = reader.positive_duration("AUTHARA_CHALLENGE_VERIFICATION_CODE_TTL")
    if code_ttl > ttl:
        reader.fail(
            "AUTHARA_CHALLENGE_VERIFICATION_CODE_TTL", "must not exceed AUTHARA_CHALLENGE_TTL"
        )
    interval = reader.duration("AUTHARA_CHALLENGE_MIN_RESEND_INTERVAL")
    if interval < timedelta(0):
        reader.fail("AUTHARA_CHALLENGE_MIN_RESEND_INTERVAL", "must not be negative")
    return ChallengeSettings(
        enabled=reader.boolean("AUTHARA_CHALLENGE_ENABLED"),
        ttl=ttl,
        code_ttl=code_ttl,
        max_attempts=reader.integer("AUTHARA_CHALLENGE_MAX_ATTEMPTS", minimum=1),
        max_resends=reader.integer("AUTHARA_CHALLENGE_MAX_RESENDS", minimum=0),
        min_resend_interval=max(interval, timedelta(0)),
    )


def _brand(reader: EnvReader) -> Brand:
    name = reader.optional("AUTHARA_APP_NAME")
    if name is not None and (problem := branding.name_problem(name)):
        reader.fail("AUTHARA_APP_NAME", problem)
        name = None
    color = reader.optional("AUTHARA_BRAND_COLOR")
    if color is not None and not branding.is_hex_color(color):
        reader.fail("AUTHARA_BRAND_COLOR", f"must be a color such as #1a7f37, got {color!r}")
        color = None
    directory = _brand_dir(reader)
    logo = reader.optional("AUTHARA_BRAND_LOGO_URL")
    if logo is not None and (problem := _logo_problem(logo, directory)):
        reader.fail("AUTHARA_BRAND_LOGO_URL", problem)
        logo = None
    return Brand(
        app_name=name,
        logo_url=logo,
        color=color.lower() if color else None,
        directory=directory,
    )


def _brand_dir(reader: EnvReader) -> Path | None:
    raw = reader.optional("AUTHARA_BRAND_DIR")
    if raw is None:
        return None
    directory = Path(raw)
    if not directory.is_absolute() or not directory.is_dir():
        reader.fail("AUTHARA_BRAND_DIR", f"must be the absolute path of a directory, got {raw!r}")
        return None
    return directory.resolve()


def _logo_problem(logo: str, directory: Path | None) -> str | None:
    if problem := branding.logo_url_problem(logo):
        return problem
    if not logo.startswith(branding.BRAND_FILE_PREFIX):
        return None
    name = branding.brand_file_name(logo)
    if name is None:
        types = ", ".join(sorted(branding.IMAGE_TYPES))
        return f"must name one image file ({types}) directly under /auth/brand/, got {logo!r}"
    if directory is None:
        return "a /auth/brand/ path needs AUTHARA_BRAND_DIR"
    if not (directory / name).is_file():
        return f"{name!r} is not a file in AUTHARA_BRAND_DIR"
    return None


def _validate_cross(reader: EnvReader, settings: Settings) -> None:
    tokens = settings.tokens
    if tokens.access_ttl >= tokens.refresh_ttl:
        reader.fail(
            "AUTHARA_ACCESS_TOKEN_TTL_MINUTES", "must be shorter than the refresh token TTL"
        )
    if tokens.refresh_ttl > tokens.session_ttl:
        reader.fail("AUTHARA_REFRESH_TOKEN_TTL_DAYS", "must not exceed AUTHARA_SESSION_TTL_DAYS")
    if settings.app_env is AppEnv.PROD and settings.public_url.startswith("http://"):
        reader.fail("PUBLIC_URL", "must be https when APP_ENV=prod (cookies are Secure)")
    if (
        settings.app_env is AppEnv.PROD
        and settings.challenges.enabled
        and settings.mail.provider is EmailProvider.NOOP
    ):
        reader.fail(
            "AUTHARA_CHALLENGE_ENABLED",
            "needs AUTHARA_EMAIL_PROVIDER=smtp when APP_ENV=prod (noop sends no codes)",
        )
