"""Browser routes of the OAuth redirect flow: start, callback, and link from the account page.

GET start only records a single-use state and redirects; the callback is a GET by protocol
and is protected by that state, the browser-binding cookie and PKCE instead of the CSRF
token (security check C6). Starting a link changes what can sign in to an account, so it is
a POST behind the CSRF check.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from aiohttp import web

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.headers import NO_STORE
from authara_contract.return_to import resolve_return_to, with_return_to
from authara_core.oauth.flows import (
    Cancelled,
    FlowOutcome,
    Linked,
    LinkRequired,
    OAuthFlows,
    Purpose,
    SignedIn,
)
from authara_core.oauth.secrets import looks_like_secret
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import EmailNotAllowed, Unauthorized
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.render import Renderer, is_htmx, redirect
from authara_core.sessions.service import SessionService

APP_ONLY: Final = (Audience.APP,)


def provider_name(request: web.Request) -> str:
    """Return the `{provider}` part of the path."""
    return request.match_info["provider"]


class OAuthRoutes:
    """Handlers that send browsers to providers and take them back."""

    def __init__(
        self,
        *,
        flows: OAuthFlows,
        sessions: SessionService,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        default_return_to: str,
        trust_proxy_headers: bool = False,
    ) -> None:
        self._trust_proxy_headers = trust_proxy_headers
        self._flows = flows
        self._sessions = sessions
        self._cookies = cookie_writer
        self._renderer = renderer
        self._default_return_to = default_return_to

    async def start(self, request: web.Request) -> web.StreamResponse:
        """Remember a new flow for this browser and redirect to the provider."""
        return_to = resolve_return_to(
            request.query.get(routes.RETURN_TO_PARAM), self._default_return_to
        )
        binding = self.binding(request)
        name = provider_name(request)
        url = await self._flows.start_login(name, binding=binding, return_to=return_to)
        return self.to_provider(request, url, binding, name)

    async def link(self, request: web.Request) -> web.StreamResponse:
        """Start linking a provider to the signed-in account (POST, CSRF-checked)."""
        try:
            claims = await self._sessions.identify(
                read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
            )
        except Unauthorized:
            return redirect(request, with_return_to(routes.LOGIN, routes.ACCOUNT))
        binding = self.binding(request)
        url = await self._flows.start_link(
            provider_name(request),
            binding=binding,
            user_id=claims.user_id,
            session_id=claims.session_id,
        )
        return self.to_provider(request, url, binding, provider_name(request))

    async def callback(self, request: web.Request) -> web.StreamResponse:
        """Finish a flow: sign in, ask for a link confirmation, or report the provider's no."""
        query = request.query
        try:
            outcome = await self._flows.finish(
                provider_name(request),
                binding=read_cookie(request, cookies.OAUTH_FLOW),
                state=query.get("state"),
                code=query.get("code"),
                error=query.get("error"),
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
                iss=query.get("iss"),
            )
        except EmailNotAllowed as exc:  # the allowlist: back to the login page with the reason
            refused = redirect(request, routes.LOGIN)
            set_flash(refused, Flash("error", exc.message))
            refused.headers["Cache-Control"] = NO_STORE
            return refused
        response = self._respond(request, outcome)
        response.headers["Cache-Control"] = NO_STORE
        return response

    def binding(self, request: web.Request) -> str:
        """Return this browser's binding secret, or a new one."""
        existing = read_cookie(request, cookies.OAUTH_FLOW)
        return existing if existing and looks_like_secret(existing) else self._flows.new_binding()

    def to_provider(
        self, request: web.Request, url: str, binding: str, provider: str
    ) -> web.StreamResponse:
        """Send the browser to the provider, (re)setting the binding cookie for ten minutes.

        A form POST answers with a page that moves on by meta refresh rather than a 303:
        browsers apply the page's CSP `form-action 'self'` to the redirects of a form
        submission, which would block the hop to the provider.
        """
        if request.method == "POST" and not is_htmx(request):
            response = self._renderer.page(
                request, "oauth/continue.html", url=url, provider=self._flows.display_name(provider)
            )
        else:
            response = redirect(request, url)
        self._cookies.set_oauth_flow(response, binding)
        response.headers["Cache-Control"] = NO_STORE
        return response

    def _respond(self, request: web.Request, outcome: FlowOutcome) -> web.StreamResponse:
        if isinstance(outcome, SignedIn):
            response = redirect(request, outcome.return_to)
            self._cookies.set_session(response, outcome.issued)
            self._cookies.renew_csrf(response)
            return response
        if isinstance(outcome, LinkRequired):
            query = urlencode(
                {"link_id": outcome.link_token, routes.RETURN_TO_PARAM: outcome.return_to}
            )
            return redirect(request, f"{routes.PROVIDER_LINK_CONFIRM}?{query}")
        if isinstance(outcome, Linked):
            response = redirect(request, routes.ACCOUNT)
            set_flash(response, Flash("success", f"{outcome.provider} is now linked."))
            return response
        return self._cancelled(request, outcome)

    def _cancelled(self, request: web.Request, outcome: Cancelled) -> web.StreamResponse:
        if outcome.denied:
            message = f"Sign-in with {outcome.provider} was cancelled."
        else:
            message = f"{outcome.provider} could not sign you in. Please try again."
        if outcome.purpose is Purpose.LINK:
            response = redirect(request, routes.ACCOUNT)
        else:
            response = redirect(request, with_return_to(routes.LOGIN, outcome.return_to))
        set_flash(response, Flash("error", message))
        return response
