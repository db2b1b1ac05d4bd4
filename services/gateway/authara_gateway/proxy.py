"""Stream one request to core or the app and the answer back, without buffering bodies."""

import logging
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict
from yarl import URL

from authara_contract import cookies
from authara_contract import headers as contract_headers
from authara_contract.routes import is_auth_path

from . import compression, forwarding
from .failures import upstream_failure
from .identity import IdentityVerifier, identity_headers, strip_identity_headers
from .settings import GatewaySettings, Upstream

_LOGGER = logging.getLogger(__name__)

# Headers aiohttp's client would otherwise invent; a proxy forwards only what the client sent
# (an invented Accept-Encoding would make the upstream compress for a client that cannot
# decompress, since the gateway passes encoded bodies through untouched).
SKIP_AUTO_HEADERS: Final = frozenset(
    {hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE}
)


class Proxy:
    """Forward requests: `/auth` and `/auth/*` to core, everything else to the app."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        settings: GatewaySettings,
        verifier: IdentityVerifier | None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._verifier = verifier

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Forward the request and stream the upstream's response to the client."""
        request_id = forwarding.request_id_for(request.headers.get(contract_headers.REQUEST_ID))
        to_core = is_auth_path(request.path)
        upstream = self._settings.auth_upstream if to_core else self._settings.app_upstream
        headers = self._upstream_headers(request, request_id, to_core=to_core)
        try:
            async with self._session.request(
                request.method,
                _target_url(upstream, request),
                headers=headers,
                data=request.content if request.body_exists else None,
                allow_redirects=False,
            ) as upstream_response:
                return await self._relay(request, upstream_response, request_id)
        except TimeoutError as exc:
            _log_failure(request, upstream, request_id, exc)
            return upstream_failure(request, web.HTTPGatewayTimeout.status_code, request_id)
        except aiohttp.ClientError as exc:
            _log_failure(request, upstream, request_id, exc)
            return upstream_failure(request, web.HTTPBadGateway.status_code, request_id)

    def _upstream_headers(
        self, request: web.Request, request_id: str, *, to_core: bool
    ) -> CIMultiDict[str]:
        trusted = forwarding.is_trusted_peer(request.remote, self._settings.trusted_proxies)
        headers = forwarding.upstream_request_headers(
            request, request_id=request_id, trusted_peer=trusted
        )
        strip_identity_headers(headers)
        if not to_core and self._verifier is not None:
            claims = self._verifier.verify(request.cookies.get(cookies.ACCESS.name))
            if claims is not None:
                headers.extend(identity_headers(claims))
        return headers

    async def _relay(
        self, request: web.Request, upstream: aiohttp.ClientResponse, request_id: str
    ) -> web.StreamResponse:
        headers = forwarding.client_response_headers(upstream.headers, request_id=request_id)
        encoder = None
        if self._settings.enable_compression and compression.should_compress(
            request, upstream.status, headers
        ):
            encoder = compression.GzipEncoder()
            compression.mark_gzipped(headers)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(headers)
        try:
            await response.prepare(request)
        except ConnectionError:
            return response  # the client went away before the headers were sent
        await _stream_body(request, upstream, response, encoder)
        return response


async def _stream_body(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    response: web.StreamResponse,
    encoder: compression.GzipEncoder | None,
) -> None:
    while True:
        try:
            chunk = await upstream.content.readany()
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The status line is already out, so the only honest signal left is to cut the
            # connection: a clean end would pass a truncated body off as complete.
            _LOGGER.warning(
                "upstream failed mid-response for %s %s: %s", request.method, request.path, exc
            )
            if request.transport is not None:
                request.transport.close()
            return
        if not chunk:
            break
        try:
            await response.write(encoder.encode(chunk) if encoder else chunk)
        except ConnectionError:
            return  # the client went away; leaving the block closes the upstream connection
    try:
        if encoder is not None:
            await response.write(encoder.finish())
        await response.write_eof()
    except ConnectionError:
        return


def _target_url(upstream: Upstream, request: web.Request) -> URL:
    # The raw path and query go through byte for byte: re-encoding could change what the
    # upstream routes on.
    target = request.rel_url.raw_path
    if request.rel_url.raw_query_string:
        target += "?" + request.rel_url.raw_query_string
    return URL(str(upstream.base_url) + target, encoded=True)


def _log_failure(
    request: web.Request, upstream: Upstream, request_id: str, exc: BaseException
) -> None:
    _LOGGER.warning(
        "upstream %s:%s failed for %s %s (request %s): %s",
        upstream.host,
        upstream.port,
        request.method,
        request.path,
        request_id,
        exc.__class__.__name__ if not str(exc) else exc,
    )
