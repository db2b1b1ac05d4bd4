"""HTTP to providers: one authlib httpx client per provider, a deadline on every call."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from authara_core.oauth.config import ProviderSettings
from authara_core.platform.errors import ProviderAnswerInvalid, ProviderTimeout, ProviderUnavailable

_LOGGER = logging.getLogger(__name__)
USER_AGENT: Final = "authara-core"
# Responses we parse are small JSON documents; anything bigger is not from a sane provider.
MAX_RESPONSE_BYTES: Final = 1024 * 1024


def new_client(
    settings: ProviderSettings,
    *,
    timeout: float,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> AsyncOAuth2Client:
    """Build the provider's OAuth client (PKCE S256, explicit timeouts, no redirects)."""
    return AsyncOAuth2Client(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope=" ".join(settings.scopes),
        redirect_uri=settings.redirect_uri,
        code_challenge_method="S256",
        timeout=httpx2.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        transport=transport,
    )


@asynccontextmanager
async def provider_call(settings: ProviderSettings, deadline_s: float) -> AsyncIterator[None]:
    """Run provider I/O under one deadline and turn its failures into domain errors."""
    try:
        async with asyncio.timeout(deadline_s):
            yield
    except (TimeoutError, httpx2.TimeoutException) as exc:
        _LOGGER.warning("oauth provider %s timed out after %.1fs", settings.name, deadline_s)
        raise ProviderTimeout from exc
    except (httpx2.HTTPError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        _LOGGER.warning("oauth provider %s failed: %r", settings.name, exc)
        raise ProviderUnavailable from exc
    except OAuthError as exc:  # the token endpoint refused the code (invalid_grant, ...)
        _LOGGER.info("oauth provider %s refused the code: %s", settings.name, exc.error)
        raise ProviderAnswerInvalid from exc


async def get_json(
    client: AsyncOAuth2Client, url: str, *, headers: Mapping[str, str] | None = None
) -> Any:
    """GET a JSON document (raises httpx2 errors on failure statuses)."""
    response = await client.request("GET", url, headers=dict(headers or {}), withhold_token=True)
    response.raise_for_status()
    if len(response.content) > MAX_RESPONSE_BYTES:
        raise ProviderUnavailable("The sign-in provider sent an oversized answer.")
    return json.loads(response.content)


def bearer(access_token: str) -> dict[str, str]:
    """Return the Authorization header for a provider API call."""
    return {"Authorization": f"Bearer {access_token}"}
