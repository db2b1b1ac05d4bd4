"""The provider-link confirmation page: prove the existing account before linking a provider."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authara_contract import cookies, routes
from authara_core.oauth.linking import LinkView, ProviderLinks
from authara_core.oauth.routes import OAuthRoutes
from authara_core.platform.bodies import FORM_ERROR_STATUS, field, read_form
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import (
    AuthError,
    InvalidCredentials,
    ProviderLinkInvalid,
    RateLimited,
)
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, redirect, set_retry_after


class ProviderLinkPages:
    """Handlers for confirming a pending provider link."""

    def __init__(
        self,
        *,
        links: ProviderLinks,
        oauth: OAuthRoutes,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        trust_proxy_headers: bool,
    ) -> None:
        self._links = links
        self._oauth = oauth
        self._cookies = cookie_writer
        self._forms = FormRenderer(renderer, cookie_writer)
        self._trust_proxy_headers = trust_proxy_headers

    async def confirm_page(self, request: web.Request) -> web.StreamResponse:
        """Ask the owner of the existing account to prove it before linking."""
        link_token = request.query.get("link_id", "")
        try:
            view = await self._links.pending(link_token=link_token, binding=self._binding(request))
        except ProviderLinkInvalid as exc:
            return self._to_login(request, exc)
        return self._render_confirm(request, view, link_token)

    async def confirm_submit(self, request: web.Request) -> web.StreamResponse:
        """Confirm with the password (a login attempt), or start a proof with another provider."""
        form = await read_form(request)
        link_token, password = field(form, "link_id"), field(form, "password")
        provider = field(form, "provider")
        binding = self._binding(request)
        try:
            if provider:
                url = await self._links.start_proof(
                    link_token=link_token, binding=binding, provider=provider
                )
                return self._oauth.to_provider(request, url, binding or "", provider)
            if not password:
                return await self._confirm_error(
                    request, link_token, 400, "Enter your password.", None
                )
            signed_in = await self._links.confirm_with_password(
                link_token=link_token,
                binding=binding,
                password=password,
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except ProviderLinkInvalid as exc:
            return self._to_login(request, exc)
        except (InvalidCredentials, RateLimited) as exc:
            status = exc.status if isinstance(exc, RateLimited) else FORM_ERROR_STATUS
            return await self._confirm_error(request, link_token, status, exc.message, exc)
        response = redirect(request, signed_in.return_to)
        self._cookies.set_session(response, signed_in.issued)
        self._cookies.renew_csrf(response)
        return response

    async def _confirm_error(
        self,
        request: web.Request,
        link_token: str,
        status: int,
        message: str,
        exc: AuthError | None,
    ) -> web.StreamResponse:
        try:
            view = await self._links.pending(link_token=link_token, binding=self._binding(request))
        except ProviderLinkInvalid as invalid:
            return self._to_login(request, invalid)
        response = self._render_confirm(request, view, link_token, status=status, error=message)
        if isinstance(exc, RateLimited):
            set_retry_after(response, exc)
        return response

    def _render_confirm(
        self,
        request: web.Request,
        view: LinkView,
        link_token: str,
        *,
        status: int = 200,
        error: str | None = None,
    ) -> web.Response:
        return self._page(
            request,
            "oauth/provider_link.html",
            status=status,
            error=error,
            provider=view.provider,
            email=view.email,
            has_password=view.has_password,
            proof_providers=view.proof_providers,
            link_id=link_token,
            confirm_url=routes.PROVIDER_LINK_CONFIRM,
            login_url=routes.LOGIN,
        )

    def _to_login(self, request: web.Request, exc: ProviderLinkInvalid) -> web.StreamResponse:
        response = redirect(request, routes.LOGIN)
        set_flash(response, Flash("error", exc.message))
        return response

    def _binding(self, request: web.Request) -> str | None:
        return read_cookie(request, cookies.OAUTH_FLOW)

    def _page(
        self, request: web.Request, template: str, *, status: int = 200, **context: Any
    ) -> web.Response:
        return self._forms.page(request, template, status=status, show_flash=True, **context)
