"""Build one provider object per configured provider, with its HTTP client's lifetime."""

from __future__ import annotations

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client

from authara_core.oauth.client import new_client
from authara_core.oauth.config import OAuthSettings, ProviderKind, ProviderSettings
from authara_core.oauth.github import GitHubProvider
from authara_core.oauth.oidc import OidcProvider
from authara_core.oauth.port import IdTokenVerifier, OAuthProvider
from authara_core.platform.clock import Clock
from authara_core.platform.errors import ProviderNotFound


class ProviderRegistry:
    """The configured providers; their clients open and close with the application."""

    def __init__(
        self,
        settings: OAuthSettings,
        *,
        clock: Clock,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._transport = transport
        self._clients: list[AsyncOAuth2Client] = []
        self._providers: dict[str, OidcProvider | GitHubProvider] = {}

    @property
    def configured(self) -> tuple[ProviderSettings, ...]:
        """Every configured provider, in the order AUTHARA_OAUTH_PROVIDERS lists them."""
        return self._settings.providers

    @property
    def redirect_providers(self) -> tuple[ProviderSettings, ...]:
        """The providers with a sign-in button (the browser redirect flow)."""
        return tuple(p for p in self._settings.providers if p.redirect_flow)

    def open(self) -> None:
        """Create the HTTP clients (no I/O: discovery happens on first use)."""
        timeout = self._settings.http_timeout.total_seconds()
        for settings in self._settings.providers:
            client = new_client(settings, timeout=timeout, transport=self._transport)
            self._clients.append(client)
            provider: OidcProvider | GitHubProvider
            if settings.kind is ProviderKind.GITHUB:
                provider = GitHubProvider(settings, client=client, timeout=timeout)
            else:
                provider = OidcProvider(settings, client=client, clock=self._clock, timeout=timeout)
            self._providers[settings.name] = provider

    async def close(self) -> None:
        """Close every client."""
        clients, self._clients = self._clients, []
        self._providers.clear()
        for client in clients:
            await client.aclose()

    def redirect_provider(self, name: str) -> OAuthProvider:
        """Return a provider that offers the redirect flow, or raise ProviderNotFound (404)."""
        provider = self._providers.get(name)
        if provider is None or not provider.settings.redirect_flow:
            raise ProviderNotFound
        return provider

    def display_name(self, name: str) -> str:
        """Return a provider's label, or its name when it is no longer configured."""
        settings = self._settings.provider(name)
        return settings.display_name if settings is not None else name

    def google(self) -> IdTokenVerifier:
        """Return Google for the ID-token API, or raise ProviderNotFound (404)."""
        provider = self._providers.get("google")
        if not isinstance(provider, OidcProvider):
            raise ProviderNotFound("Google sign-in is not configured.")
        return provider
