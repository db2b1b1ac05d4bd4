"""Local stand-ins for sign-in providers, speaking their real endpoint shapes over real sockets.

`OidcStandIn` is a small OpenID Connect provider (discovery, authorize, token with PKCE
S256, JWKS, UserInfo); `google_stand_in()` gives it Google's paths and claim habits;
`GitHubStandIn` speaks GitHub's OAuth endpoints plus its REST API's /user and /user/emails.
Each one checks what a real provider checks (client credentials, redirect URI, PKCE, single
use codes), so a test that passes against them exercises the same requests production
sends. Tests drive the browser side by GETting the authorize URL core redirects to and
feeding the callback URL the stand-in redirects to back into core.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "authara-test-client"
CLIENT_SECRET = "authara-test-secret"


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Grant:
    """What the authorize endpoint remembers about one code."""

    claims: dict[str, Any]
    nonce: str | None
    challenge: str
    method: str
    redirect_uri: str
    used: bool = False


@dataclass
class Account:
    """The user the stand-in signs in at its next authorize request."""

    sub: str
    email: str | None = None
    email_verified: Any = True

    def claims(self) -> dict[str, Any]:
        """Return the account's claims."""
        out: dict[str, Any] = {"sub": self.sub}
        if self.email is not None:
            out["email"] = self.email
            out["email_verified"] = self.email_verified
        return out


@dataclass
class OidcStandIn:
    """An OpenID Connect provider with switches for every way a provider can misbehave."""

    paths: dict[str, str] = field(
        default_factory=lambda: {
            "authorize": "/authorize",
            "token": "/token",
            "jwks": "/jwks",
            "userinfo": "/userinfo",
        }
    )
    email_in_id_token: bool = False  # oidc-provider style: email only from UserInfo
    account: Account = field(default_factory=lambda: Account("subject-1", "ada@example.com"))
    deny: str | None = None  # send `error=<deny>` instead of a code
    tamper: str | None = None  # signature | iss | aud | nonce | exp | userinfo-sub
    token_status: int = 200
    hold_token: bool = False  # keep the token request waiting until released
    advertised_issuer: str | None = None  # discovery names another issuer than its own URL
    url: str = ""
    requests: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "stand-in-1", "use": "sig"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "stand-in-1", "use": "sig"})
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        """Return the provider's web application."""
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get(self.paths["authorize"], self._authorize)
        app.router.add_post(self.paths["token"], self._token)
        app.router.add_get(self.paths["jwks"], self._jwks)
        app.router.add_get(self.paths["userinfo"], self._userinfo)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        self.requests.append("discovery")
        return web.json_response(
            {
                "issuer": self.advertised_issuer or self.url,
                "authorization_endpoint": self.url + self.paths["authorize"],
                "token_endpoint": self.url + self.paths["token"],
                "jwks_uri": self.url + self.paths["jwks"],
                "userinfo_endpoint": self.url + self.paths["userinfo"],
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        self.requests.append("authorize")
        query = request.query
        redirect_uri = query["redirect_uri"]
        assert query["client_id"] == CLIENT_ID
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        assert "openid" in query["scope"].split()
        if self.deny is not None:
            return _redirect(redirect_uri, error=self.deny, state=query["state"])
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            claims=self.account.claims(),
            nonce=query.get("nonce"),
            challenge=query["code_challenge"],
            method=query["code_challenge_method"],
            redirect_uri=redirect_uri,
        )
        return _redirect(redirect_uri, code=code, state=query["state"])

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append("token")
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        if self.hold_token:
            await asyncio.wait_for(self.release.wait(), 30)
        if self.token_status != 200:
            return web.json_response({"error": "server_error"}, status=self.token_status)
        if not _client_authenticated(request, form):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.grants.get(str(form.get("code")))
        if grant is None or grant.used or form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "invalid_grant"}, status=400)
        grant.used = True  # a replayed code is refused, as RFC 6749 requires
        if form.get("redirect_uri") != grant.redirect_uri:
            return web.json_response({"error": "invalid_grant"}, status=400)
        if s256(str(form.get("code_verifier", ""))) != grant.challenge:
            return web.json_response({"error": "invalid_grant"}, status=400)
        access_token = secrets.token_urlsafe(24)
        self.tokens[access_token] = grant.claims
        return web.json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self.id_token(grant),
            }
        )

    def credential(self, nonce: str) -> str:
        """Return an ID token as Google Identity Services hands one to a browser."""
        grant = Grant(self.account.claims(), nonce, challenge="", method="", redirect_uri="")
        return self.id_token(grant)

    def id_token(self, grant: Grant) -> str:
        """Sign the ID token for a grant, spoiled the way `tamper` says."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "sub": grant.claims["sub"],
            "iat": now,
            "exp": now + 600,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if self.email_in_id_token:
            claims.update(grant.claims)
        key = self.key
        if self.tamper == "signature":
            key = self.other_key
        elif self.tamper == "iss":
            claims["iss"] = "https://evil.example"
        elif self.tamper == "aud":
            claims["aud"] = "someone-else"
        elif self.tamper == "nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.tamper == "exp":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif self.tamper == "exp-overflow":  # signed, in the future, beyond any datetime
            claims["exp"] = 10**30
        return jwt.encode({"alg": "RS256", "kid": "stand-in-1"}, claims, key)

    async def _jwks(self, request: web.Request) -> web.Response:
        self.requests.append("jwks")
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def _userinfo(self, request: web.Request) -> web.Response:
        self.requests.append("userinfo")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        claims = self.tokens.get(token)
        if claims is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        if self.tamper == "userinfo-sub":
            claims = {**claims, "sub": "someone-else"}
        return web.json_response(claims)


def google_stand_in() -> OidcStandIn:
    """Return a stand-in with Google's endpoint paths; its ID tokens carry the email."""
    return OidcStandIn(
        paths={
            "authorize": "/o/oauth2/v2/auth",
            "token": "/token",
            "jwks": "/oauth2/v3/certs",
            "userinfo": "/v1/userinfo",
        },
        email_in_id_token=True,
    )


@dataclass
class GitHubStandIn:
    """GitHub's OAuth app endpoints (web) and REST API (under /api) on one server."""

    user_id: int = 4242
    login: str = "octocat"
    emails: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"email": "octo@example.com", "primary": True, "verified": True, "visibility": "public"}
        ]
    )
    url: str = ""
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.grants: dict[str, Grant] = {}
        self.tokens: set[str] = set()

    @property
    def api_url(self) -> str:
        """The API base URL (as GitHub Enterprise Server lays it out)."""
        return self.url + "/api"

    def app(self) -> web.Application:
        """Return GitHub's web and API endpoints."""
        app = web.Application()
        app.router.add_get("/login/oauth/authorize", self._authorize)
        app.router.add_post("/login/oauth/access_token", self._token)
        app.router.add_get("/api/user", self._user)
        app.router.add_get("/api/user/emails", self._emails)
        return app

    async def _authorize(self, request: web.Request) -> web.Response:
        self.requests.append("authorize")
        query = request.query
        assert query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(20)
        self.grants[code] = Grant(
            claims={},
            nonce=None,
            challenge=query["code_challenge"],
            method="S256",
            redirect_uri=query["redirect_uri"],
        )
        return _redirect(query["redirect_uri"], code=code, state=query["state"])

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append("token")
        form = await request.post()
        # GitHub answers errors with 200 and an error body.
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "incorrect_client_credentials"})
        if "application/json" not in request.headers.get("Accept", ""):
            return web.Response(text="access_token=form-encoded-is-not-expected")
        grant = self.grants.get(str(form.get("code")))
        if grant is None or grant.used or s256(str(form.get("code_verifier"))) != grant.challenge:
            return web.json_response({"error": "bad_verification_code"})
        grant.used = True
        token = "gho_" + secrets.token_urlsafe(20)
        self.tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "bearer", "scope": ""})

    def _authorized(self, request: web.Request) -> bool:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return token in self.tokens and "github" in request.headers.get("Accept", "")

    async def _user(self, request: web.Request) -> web.Response:
        self.requests.append("user")
        if not self._authorized(request):
            return web.json_response({"message": "Requires authentication"}, status=401)
        return web.json_response(
            {"id": self.user_id, "login": self.login, "email": "public@example.com"}
        )

    async def _emails(self, request: web.Request) -> web.Response:
        self.requests.append("emails")
        if not self._authorized(request):
            return web.json_response({"message": "Requires authentication"}, status=401)
        return web.json_response(self.emails)


def _client_authenticated(request: web.Request, form: dict[str, Any]) -> bool:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        raw = base64.b64decode(header.removeprefix("Basic ")).decode()
        client_id, _, secret = raw.partition(":")
        return client_id == CLIENT_ID and secret == CLIENT_SECRET
    return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET


def _redirect(location: str, **params: str) -> web.Response:
    separator = "&" if "?" in location else "?"
    return web.Response(status=302, headers={"Location": location + separator + urlencode(params)})


@asynccontextmanager
async def serving(stand_in: OidcStandIn | GitHubStandIn) -> AsyncIterator[str]:
    """Serve a stand-in on a real loopback socket; yield its base URL."""
    server = TestServer(stand_in.app(), host="127.0.0.1")
    await server.start_server()
    stand_in.url = str(server.make_url("")).rstrip("/")
    try:
        yield stand_in.url
    finally:
        if isinstance(stand_in, OidcStandIn):
            stand_in.release.set()
        await server.close()
