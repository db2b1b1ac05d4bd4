"""Gateway settings: environment → frozen dataclasses, validated once before the app exists."""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from yarl import URL

from authara_contract.env import AppEnv, EnvReader, Service, parse_host_port
from authara_contract.routes import is_auth_path
from authara_contract.tokens import KeyConfigError, KeySet, parse_jwt_keys
from authara_runtime.cache import RedisSettings, read_cache_settings
from authara_runtime.logs import LOG_LEVELS
from authara_runtime.workers import MAX_WORKERS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Caddy's documented `auto_https` values plus the `on` that upstream's README suggests.
_AUTO_HTTPS: Final = ("off", "on", "disable_redirects", "disable_certs", "ignore_loaded_certs")


@dataclass(frozen=True, slots=True)
class Upstream:
    """One upstream server the gateway forwards to (plain HTTP)."""

    host: str
    port: int
    origin: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin", str(self.base_url))

    @property
    def base_url(self) -> URL:
        """Return `http://host:port` (IPv6 literals bracketed)."""
        return URL.build(scheme="http", host=self.host, port=self.port)


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    """What the gateway needs to verify `authara_access` and forward identity to the app."""

    keys: KeySet
    issuer: str


@dataclass(frozen=True, slots=True)
class TimeoutSettings:
    """Upstream and shutdown timeouts in seconds; there is deliberately no total timeout.

    `read` bounds the wait for response headers and between body bytes (None: no bound);
    requests that ask for an event stream are exempt, since an idle stream is not a stall.
    """

    connect: float = 5.0
    read: float | None = 300.0
    shutdown: float = 10.0


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Everything the gateway process is configured with."""

    bind_host: str
    bind_port: int
    auth_upstreams: tuple[Upstream, ...]
    app_upstreams: tuple[Upstream, ...]
    enable_compression: bool = True
    auto_https: str = "off"
    log_level: str = "debug"
    app_env: AppEnv = AppEnv.DEV
    identity: IdentitySettings | None = None
    trusted_proxies: tuple[IPNetwork, ...] = ()
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)
    protected_paths: tuple[str, ...] = ()
    fail_duration: float = 10.0
    workers: int = 1
    cache: RedisSettings | None = None
    log_format: str = "text"
    metrics_bind: tuple[str, int] | None = None


def load_settings(environ: Mapping[str, str]) -> GatewaySettings:
    """Read and validate the gateway's environment; raise SettingsError naming every problem."""
    reader = EnvReader(environ, Service.GATEWAY)
    bind_host, bind_port = reader.host_port("GATEWAY_BIND")
    app_env = AppEnv(reader.choice("APP_ENV", [e.value for e in AppEnv]))
    log_level = reader.optional("LOG_LEVEL")
    identity = _identity(reader)
    settings = GatewaySettings(
        bind_host=bind_host,
        bind_port=bind_port,
        auth_upstreams=_upstreams(reader, "AUTHARA_UPSTREAM"),
        app_upstreams=_upstreams(reader, "APP_UPSTREAM"),
        enable_compression=reader.boolean("ENABLE_COMPRESSION"),
        auto_https=reader.choice("AUTO_HTTPS", _AUTO_HTTPS),
        log_level=_log_level(reader, log_level, app_env),
        app_env=app_env,
        identity=identity,
        trusted_proxies=_trusted_proxies(reader),
        timeouts=_timeouts(reader),
        protected_paths=_protected_paths(reader, identity_enabled=identity is not None),
        fail_duration=_seconds(reader, "GATEWAY_UPSTREAM_FAIL_DURATION", allow_zero=True),
        workers=reader.integer("GATEWAY_WORKERS", minimum=1, maximum=MAX_WORKERS),
        cache=read_cache_settings(reader),
        log_format=reader.log_format(),
        metrics_bind=reader.optional_host_port("GATEWAY_METRICS_BIND"),
    )
    reader.finish()
    return settings


def load_bind(environ: Mapping[str, str]) -> tuple[str, int]:
    """Read only GATEWAY_BIND (the health check must not need the upstream settings)."""
    reader = EnvReader(environ, Service.GATEWAY)
    address = reader.host_port("GATEWAY_BIND")
    reader.finish()
    return address


def startup_warnings(settings: GatewaySettings) -> list[str]:
    """List configuration choices an operator should hear about at start-up."""
    warnings = []
    if settings.auto_https != "off":
        warnings.append(
            f"AUTO_HTTPS={settings.auto_https} is accepted but ignored: this gateway speaks "
            "plain HTTP, terminate TLS in front of it"
        )
    return warnings


def _upstreams(reader: EnvReader, name: str) -> tuple[Upstream, ...]:
    value = reader.string(name)
    if not value:
        return (Upstream("invalid", 1),)
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        reader.fail(name, f"must list host:port addresses separated by commas, got {value!r}")
        return (Upstream("invalid", 1),)
    return tuple(_upstream(reader, name, item) for item in items)


def _upstream(reader: EnvReader, name: str, value: str) -> Upstream:
    address = value.removeprefix("http://")
    if "://" in address or "/" in address:
        reader.fail(name, f"must be host:port or http://host:port, got {value!r}")
        return Upstream("invalid", 1)
    try:
        host, port = parse_host_port(address)
    except ValueError as exc:
        reader.fail(name, f"{exc}, got {value!r}")
        return Upstream("invalid", 1)
    if address.startswith(":"):
        reader.fail(name, f"must name a host, got {value!r}")
    return Upstream(host, port)


def _seconds(reader: EnvReader, name: str, *, allow_zero: bool) -> float:
    seconds = reader.duration(name).total_seconds()
    if seconds < 0 or (seconds == 0 and not allow_zero):
        reader.fail(name, "must be a positive duration" + (" or 0" if allow_zero else ""))
    return seconds


def _timeouts(reader: EnvReader) -> TimeoutSettings:
    read = _seconds(reader, "GATEWAY_READ_TIMEOUT", allow_zero=True)
    return TimeoutSettings(
        connect=_seconds(reader, "GATEWAY_CONNECT_TIMEOUT", allow_zero=False),
        read=read or None,
        shutdown=_seconds(reader, "GATEWAY_SHUTDOWN_TIMEOUT", allow_zero=True),
    )


def _protected_paths(reader: EnvReader, *, identity_enabled: bool) -> tuple[str, ...]:
    raw = reader.optional("GATEWAY_PROTECTED_PATHS")
    if raw is None:
        return ()
    name = "GATEWAY_PROTECTED_PATHS"
    prefixes = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if not item.startswith("/") or any(ch in item for ch in "?#\\") or "//" in item:
            reader.fail(name, f"must list path prefixes such as /app, got {item!r}")
        elif is_auth_path(item):
            reader.fail(name, f"{item!r} is served by core, which the gateway never protects")
        else:
            prefixes.append(item.rstrip("/") or "/")
    if prefixes and not identity_enabled:
        reader.fail(name, "needs AUTHARA_JWT_KEYS and AUTHARA_JWT_ISSUER to tell who is signed in")
    return tuple(prefixes)


def _log_level(reader: EnvReader, raw: str | None, app_env: AppEnv) -> str:
    if raw is None:
        return "info" if app_env is AppEnv.PROD else "debug"
    level = raw.lower()
    if level not in LOG_LEVELS:
        reader.fail("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
        return "info"
    return level


def _identity(reader: EnvReader) -> IdentitySettings | None:
    raw_keys = reader.optional("AUTHARA_JWT_KEYS")
    issuer = reader.optional("AUTHARA_JWT_ISSUER")
    if raw_keys is None and issuer is None:
        return None
    if raw_keys is None or issuer is None:
        missing = "AUTHARA_JWT_KEYS" if raw_keys is None else "AUTHARA_JWT_ISSUER"
        other = "AUTHARA_JWT_ISSUER" if raw_keys is None else "AUTHARA_JWT_KEYS"
        reader.fail(missing, f"must be set together with {other} (identity forwarding)")
        return None
    try:
        keys = parse_jwt_keys(raw_keys)
    except KeyConfigError as exc:
        reader.fail("AUTHARA_JWT_KEYS", str(exc))
        return None
    # The gateway only verifies, so which kid counts as "active" does not matter.
    return IdentitySettings(keys=KeySet(keys=keys, active_kid=next(iter(keys))), issuer=issuer)


def _trusted_proxies(reader: EnvReader) -> tuple[IPNetwork, ...]:
    raw = reader.optional("GATEWAY_TRUSTED_PROXIES")
    if raw is None:
        return ()
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            reader.fail("GATEWAY_TRUSTED_PROXIES", f"must list IPs or CIDRs, got {item!r}")
    return tuple(networks)
