"""OAuth provider settings: AUTHARA_OAUTH_PROVIDERS and the per-provider pattern rows.

`google` and `github` are presets (endpoints and scopes known); any other name is a generic
OpenID Connect provider found through discovery at its `_ISSUER`. Upstream's Google setup (a
client id only) keeps working: without a secret Google offers just the ID-token JSON API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from authara_contract import routes
from authara_contract.env import ENV_PATTERNS, EnvReader, expand

PROVIDERS_VAR: Final = "AUTHARA_OAUTH_PROVIDERS"
TIMEOUT_VAR: Final = "AUTHARA_OAUTH_HTTP_TIMEOUT"
GOOGLE: Final = "google"
GITHUB: Final = "github"
GOOGLE_ISSUER: Final = "https://accounts.google.com"
GITHUB_WEB_URL: Final = "https://github.com"
GITHUB_API_URL: Final = "https://api.github.com"
OIDC_SCOPES: Final = ("openid", "email", "profile")
GITHUB_SCOPES: Final = ("read:user", "user:email")
# Lower-case so it works in URLs; no `-` because the name is part of variable names.
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")  # fullmatch: `$` allows a final "\n"
_RESERVED: Final = frozenset({"password"})  # the password sign-in method's provider name
_SCOPE_SPLIT: Final = re.compile(r"[\s,]+")


class ProviderKind(StrEnum):
    """How Authara talks to a provider."""

    OIDC = "oidc"  # discovery, ID token checked against the provider's JWKS
    GITHUB = "github"  # plain OAuth 2.0 plus GitHub's /user and /user/emails


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One configured sign-in provider."""

    name: str
    kind: ProviderKind
    display_name: str
    client_id: str
    client_secret: str | None
    issuer: str
    scopes: tuple[str, ...]
    redirect_uri: str
    api_url: str = ""

    @property
    def redirect_flow(self) -> bool:
        """Tell whether the browser redirect flow is offered (google needs a secret for it)."""
        return self.client_secret is not None or (
            self.kind is ProviderKind.OIDC and self.name != GOOGLE
        )


@dataclass(frozen=True, slots=True)
class OAuthSettings:
    """Every configured provider and the deadline for calls to them."""

    providers: tuple[ProviderSettings, ...] = ()
    http_timeout: timedelta = timedelta(seconds=10)

    def provider(self, name: str) -> ProviderSettings | None:
        """Return the provider with this name, if configured."""
        return next((p for p in self.providers if p.name == name), None)

    @property
    def google(self) -> ProviderSettings | None:
        """Google, when configured (it widens the CSP and enables the ID-token API)."""
        return self.provider(GOOGLE)


def _var(suffix: str, name: str) -> str:
    pattern = next(p for p in ENV_PATTERNS if p.name.endswith("_" + suffix))
    return expand(pattern, name)


def read_oauth_settings(reader: EnvReader, *, public_url: str, prod: bool) -> OAuthSettings:
    """Parse AUTHARA_OAUTH_*; problems are recorded on the reader, like every other section."""
    timeout = reader.duration(TIMEOUT_VAR)
    if timeout <= timedelta(0):
        reader.fail(TIMEOUT_VAR, "must be a positive duration")
        timeout = timedelta(seconds=10)
    providers = [
        _read_provider(reader, name, public_url=public_url, prod=prod)
        for name in _provider_names(reader)
    ]
    return OAuthSettings(providers=tuple(providers), http_timeout=timeout)


def _provider_names(reader: EnvReader) -> list[str]:
    raw = reader.optional(PROVIDERS_VAR) or ""
    names: list[str] = []
    for item in raw.split(","):
        name = item.strip().lower()
        if not name:
            continue
        if not _NAME.fullmatch(name) or name in _RESERVED:
            reader.fail(
                PROVIDERS_VAR,
                f"{item.strip()!r} is not a provider name (a-z, digits, _; not 'password')",
            )
        elif name in names:
            reader.fail(PROVIDERS_VAR, f"{name!r} is listed twice")
        else:
            names.append(name)
    return names


def _read_provider(
    reader: EnvReader, name: str, *, public_url: str, prod: bool
) -> ProviderSettings:
    kind = ProviderKind.GITHUB if name == GITHUB else ProviderKind.OIDC
    client_id = reader.optional(_var("CLIENT_ID", name))
    if client_id is None:
        reader.fail(_var("CLIENT_ID", name), f"is required because {name} is in {PROVIDERS_VAR}")
    secret = reader.optional(_var("CLIENT_SECRET", name))
    if secret is None and kind is ProviderKind.GITHUB:
        reader.fail(_var("CLIENT_SECRET", name), "is required for github")
    default_issuer = {GOOGLE: GOOGLE_ISSUER, GITHUB: GITHUB_WEB_URL}.get(name)
    issuer = _url(reader, _var("ISSUER", name), default_issuer, prod=prod)
    if issuer is None:
        reader.fail(
            _var("ISSUER", name), f"is required for a generic OpenID Connect provider ({name})"
        )
    api_url = _url(
        reader,
        _var("API_URL", name),
        GITHUB_API_URL if kind is ProviderKind.GITHUB else None,
        prod=prod,
    )
    if api_url is not None and kind is not ProviderKind.GITHUB:
        reader.fail(_var("API_URL", name), "is only read for github")
    return ProviderSettings(
        name=name,
        kind=kind,
        display_name=reader.optional(_var("DISPLAY_NAME", name)) or _default_display_name(name),
        client_id=client_id or "",
        client_secret=secret,
        issuer=issuer or "",
        scopes=_scopes(reader, name, kind),
        redirect_uri=public_url + routes.OAUTH_CALLBACK.format(provider=name),
        api_url=api_url or "",
    )


def _default_display_name(name: str) -> str:
    return {GOOGLE: "Google", GITHUB: "GitHub"}.get(name, name.replace("_", " ").title())


def _scopes(reader: EnvReader, name: str, kind: ProviderKind) -> tuple[str, ...]:
    raw = reader.optional(_var("SCOPES", name))
    if raw is None:
        return GITHUB_SCOPES if kind is ProviderKind.GITHUB else OIDC_SCOPES
    scopes = tuple(scope for scope in _SCOPE_SPLIT.split(raw) if scope)
    if kind is ProviderKind.OIDC and "openid" not in scopes:
        reader.fail(_var("SCOPES", name), "must include openid for an OpenID Connect provider")
    return scopes


def _url(reader: EnvReader, var: str, default: str | None, *, prod: bool) -> str | None:
    raw = reader.optional(var)
    if raw is None:
        return default
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        reader.fail(var, f"must be an http(s) URL with a host and no query, got {raw!r}")
        return default
    if prod and parts.scheme != "https":
        reader.fail(var, "must be https when APP_ENV=prod")
    return raw
