"""Stream one request to core or the app and the answer back, without buffering bodies."""

import logging
import time
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict
from yarl import URL

from authara_contract import cookies
from authara_contract import headers as contract_headers
from authara_contract.routes import is_auth_path
from authara_runtime.cookie_header import read_cookies, rewrite_cookie_header
from authara_runtime.observe import RequestObserver
from authara_runtime.request_ids import RequestIds

from . import compression, forwarding
from .failures import upstream_failure
from .identity import Identity, IdentityVerifier
from .metrics import GatewayMetrics
from .protection import (
    ProtectedPaths,
    has_control_character,
    refuse_anonymous,
    refuse_control_characters,
)
from .refresh import ClientContext, SessionRefresher
from .revocation import Revocations
from .settings import GatewaySettings, Upstream
from .upstream_client import UpstreamClient, UpstreamResponse, UpstreamUnreachable
from .upstreams import UpstreamPool
from .websocket import WebSocketRelay, is_upgrade

_LOGGER = logging.getLogger(__name__)

# Headers aiohttp's client would otherwise invent; a proxy forwards only what the client sent
# (an invented Accept-Encoding would make the upstream compress for a client that cannot
# decompress, since the gateway passes encoded bodies through untouched).
SKIP_AUTO_HEADERS: Final = frozenset(
    {hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE}
)
# WebSocket handshakes that failed before anything was sent: another upstream may be tried.
_CONNECT_ERRORS: Final = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# An upstream that closed or reset the connection before answering (a replica killed
# mid-request): a bodiless GET or HEAD is safe to send to the next upstream.
# (ClientOSError is how aiohttp reports a reset; connect errors never get here, they are
# UpstreamUnreachable.)
_DROPPED: Final = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    ConnectionResetError,
    BrokenPipeError,
)
_RETRYABLE_METHODS: Final = frozenset({hdrs.METH_GET, hdrs.METH_HEAD})
_SESSION_COOKIE_PREFIXES: Final = tuple(f"{spec.name}=" for spec in cookies.SESSION_COOKIES)
_EVENT_STREAM: Final = "text/event-stream"
_WANTED_COOKIES: Final = frozenset({cookies.ACCESS.name, cookies.REFRESH.name, cookies.CSRF.name})
# Bodies up to this size with a known length are read whole and sent with the headers in
# one write; longer or open-ended ones stream chunk by chunk.
SMALL_BODY: Final = 64 * 1024
# The route classes of access lines and metrics: never the raw path (it may carry a token).
ROUTE_CORE: Final = "core"
ROUTE_APP: Final = "app"
_CORE_LABELS: Final = (ROUTE_CORE,)
_APP_LABELS: Final = (ROUTE_APP,)
# The status recorded for a request whose client went away before it was answered.
_CANCELLED: Final = 499


@dataclass(frozen=True, slots=True)
class Visit:
    """Who the request is from, and cookies the gateway must set on the way back."""

    identity: Identity | None
    set_cookies: tuple[str, ...] = ()


ANONYMOUS: Final = Visit(identity=None)


class Proxy:
    """Forward requests: `/auth` and `/auth/*` to core, everything else to the app."""

    def __init__(
        self,
        *,
        upstreams: UpstreamClient,
        settings: GatewaySettings,
        core: UpstreamPool,
        app: UpstreamPool,
        verifier: IdentityVerifier | None,
        refresher: SessionRefresher | None,
        websockets: WebSocketRelay,
        revocations: Revocations | None = None,
        observe: RequestObserver | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._observe = observe or RequestObserver(access_log=None, metrics=None)
        self._metrics = metrics
        self._upstreams = upstreams
        self._settings = settings
        self._core = core
        self._app = app
        self._verifier = verifier
        self._refresher = refresher
        self._websockets = websockets
        self._revocations = revocations
        self._trusted_proxies = settings.trusted_proxies
        self._request_ids = RequestIds()
        self._protected = ProtectedPaths(settings.protected_paths)
        if self._protected and verifier is None:
            # Fail closed: protected paths without a way to tell who is signed in.
            raise ValueError("protected paths need identity settings (JWT keys and issuer)")

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Forward the request and stream the upstream's response to the client."""
        request_id = self._request_ids(request.headers.get(contract_headers.REQUEST_ID))
        to_core = is_auth_path(request.path)
        observe = self._observe
        if not observe.enabled:
            return (await self._handle(request, request_id, to_core))[0]
        started = time.perf_counter()
        status, user_id = _CANCELLED, None
        try:
            response, visit = await self._handle(request, request_id, to_core)
        except Exception:
            status = web.HTTPInternalServerError.status_code
            raise
        else:
            status = response.status
            if visit.identity is not None:
                user_id = str(visit.identity.claims.user_id)
            return response
        finally:
            observe(
                request_id=request_id,
                method=request.method,
                route=ROUTE_CORE if to_core else ROUTE_APP,
                status=status,
                duration_s=time.perf_counter() - started,
                user_id=user_id,
            )

    async def _handle(
        self, request: web.BaseRequest, request_id: str, to_core: bool
    ) -> tuple[web.StreamResponse, Visit]:
        if has_control_character(request):
            return refuse_control_characters(request_id), ANONYMOUS
        headers = self._upstream_headers(request, request_id)
        visit = ANONYMOUS
        if not to_core and self._verifier is not None:
            visit = await self._authenticate(self._verifier, request, headers, request_id)
            if visit.identity is not None:
                headers.extend(visit.identity.headers)
            elif self._protected.covers(request.path):
                response = refuse_anonymous(
                    request, request_id=request_id, set_cookies=visit.set_cookies
                )
                return response, visit
        pool = self._core if to_core else self._app
        if is_upgrade(request):
            return await self._relay_websocket(request, pool, headers, request_id, visit), visit
        return await self._forward(request, pool, headers, request_id, visit), visit

    def _upstream_headers(self, request: web.BaseRequest, request_id: str) -> CIMultiDict[str]:
        trusted = bool(self._trusted_proxies) and forwarding.is_trusted_peer(
            request.remote, self._trusted_proxies
        )
        return forwarding.upstream_request_headers(
            request,
            request_id=request_id,
            trusted_peer=trusted,
            trusted_networks=self._trusted_proxies,
        )

    async def _authenticate(
        self,
        verifier: IdentityVerifier,
        request: web.BaseRequest,
        headers: CIMultiDict[str],
        request_id: str,
    ) -> Visit:
        """Verify the access cookie; failing that, refresh the session through core.

        A revoked access token counts as an invalid one (contract §5.6).
        """
        request_cookies = read_cookies(request.headers.getall(hdrs.COOKIE, ()), _WANTED_COOKIES)
        access_token = request_cookies.get(cookies.ACCESS.name)
        identity = verifier.verify(access_token)
        if identity is not None:
            if self._revocations is None or access_token is None:
                return Visit(identity)
            revoked = self._revocations.known(access_token)
            if revoked is None:
                revoked = await self._revocations.look_up(access_token, identity.claims)
            if not revoked:
                return Visit(identity)
        refresh_token = request_cookies.get(cookies.REFRESH.name)
        if not refresh_token or self._refresher is None:
            return ANONYMOUS
        client = ClientContext(
            csrf_token=request_cookies.get(cookies.CSRF.name),
            forwarded_for=headers[hdrs.X_FORWARDED_FOR],
            forwarded_proto=headers[hdrs.X_FORWARDED_PROTO],
            forwarded_host=headers[hdrs.X_FORWARDED_HOST],
            request_id=request_id,
            user_agent=request.headers.get(hdrs.USER_AGENT),
        )
        outcome = await self._refresher.refresh(refresh_token, client)
        if self._metrics is not None:
            self._metrics.refreshes.labels("refreshed" if outcome else "refused").inc()
        if outcome is None:
            return ANONYMOUS
        cookie_header = rewrite_cookie_header(
            request.headers.getall(hdrs.COOKIE, ()), outcome.cookie_values
        )
        headers.popall(hdrs.COOKIE, None)
        if cookie_header:
            headers[hdrs.COOKIE] = cookie_header
        return Visit(outcome.identity, outcome.set_cookies)

    async def _forward(
        self,
        request: web.BaseRequest,
        pool: UpstreamPool,
        headers: CIMultiDict[str],
        request_id: str,
        visit: Visit,
    ) -> web.StreamResponse:
        read_timeout = self._settings.timeouts.read
        if _EVENT_STREAM in request.headers.get(hdrs.ACCEPT, ""):
            read_timeout = None  # an event stream may stay silent as long as it likes
        target = _target(request)
        body = request.content if request.body_exists else None
        status = web.HTTPBadGateway.status_code
        metrics = self._metrics
        label = _CORE_LABELS if pool is self._core else _APP_LABELS
        for upstream in pool.candidates():
            sent = time.perf_counter()
            try:
                upstream_response = await self._upstreams.request(
                    upstream, request.method, target, headers, body, read_timeout=read_timeout
                )
            except UpstreamUnreachable as exc:
                _log_failure(request, upstream, request_id, exc)
                self._count_error(label[0], "timeout" if exc.timed_out else "unreachable")
                pool.mark_failed(upstream)
                if exc.timed_out:
                    status = web.HTTPGatewayTimeout.status_code
                continue
            except TimeoutError as exc:
                _log_failure(request, upstream, request_id, exc)
                self._count_error(label[0], "timeout")
                return upstream_failure(request, web.HTTPGatewayTimeout.status_code, request_id)
            except _DROPPED as exc:
                _log_failure(request, upstream, request_id, exc)
                self._count_error(label[0], "dropped")
                pool.mark_failed(upstream)
                if body is None and request.method in _RETRYABLE_METHODS:
                    status = web.HTTPBadGateway.status_code
                    continue
                return upstream_failure(request, web.HTTPBadGateway.status_code, request_id)
            except (aiohttp.ClientError, OSError) as exc:
                _log_failure(request, upstream, request_id, exc)
                self._count_error(label[0], "error")
                return upstream_failure(request, web.HTTPBadGateway.status_code, request_id)
            if metrics is not None:
                metrics.upstream_latency.observe(label, time.perf_counter() - sent)
            try:
                return await self._relay(request, upstream_response, request_id, visit)
            finally:
                upstream_response.release()
        return upstream_failure(request, status, request_id)

    def _count_error(self, upstream: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.upstream_errors.labels(upstream, kind).inc()

    async def _relay_websocket(
        self,
        request: web.BaseRequest,
        pool: UpstreamPool,
        headers: CIMultiDict[str],
        request_id: str,
        visit: Visit,
    ) -> web.StreamResponse:
        for upstream in pool.candidates():
            try:
                return await self._websockets.relay(
                    request,
                    _target_url(upstream, request),
                    headers,
                    request_id=request_id,
                    set_cookies=visit.set_cookies,
                )
            except _CONNECT_ERRORS as exc:
                _log_failure(request, upstream, request_id, exc)
                pool.mark_failed(upstream)
            except (TimeoutError, aiohttp.ClientError) as exc:
                _log_failure(request, upstream, request_id, exc)
                break
        return upstream_failure(request, web.HTTPBadGateway.status_code, request_id)

    async def _relay(
        self,
        request: web.BaseRequest,
        upstream: UpstreamResponse,
        request_id: str,
        visit: Visit,
    ) -> web.StreamResponse:
        headers = forwarding.client_response_headers(upstream.headers, request_id=request_id)
        for cookie in visit.set_cookies:
            headers.add(hdrs.SET_COOKIE, cookie)
        if hdrs.SET_COOKIE in headers and _sets_session_cookie(headers):
            # Security check G3: a shared cache must never store one user's session cookies.
            headers[hdrs.CACHE_CONTROL] = contract_headers.NO_STORE
        encoder = None
        if self._settings.enable_compression:
            encoding = compression.choose_encoding(request, upstream.status, headers)
            if encoding is not None:
                encoder = compression.make_encoder(encoding)
                compression.mark_encoded(headers, encoding)
        if _is_small(request, upstream):
            # Answer with a small, complete body in one write (most API answers and pages).
            try:
                body = upstream.body_if_complete()
                if body is None:
                    body = await upstream.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                return _failed_mid_response(request, exc, request_id)
            if encoder is not None:
                body = encoder.encode(body) + encoder.finish()
            return web.Response(
                status=upstream.status, reason=upstream.reason, body=body, headers=headers
            )
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(headers)
        try:
            await response.prepare(request)
        except ConnectionError:
            return response  # the client went away before the headers were sent
        await _stream_body(request, upstream, response, encoder)
        return response


def _is_small(request: web.BaseRequest, upstream: UpstreamResponse) -> bool:
    length = upstream.content_length
    return length is not None and length <= SMALL_BODY and request.method != hdrs.METH_HEAD


def _failed_mid_response(
    request: web.BaseRequest, exc: TimeoutError | aiohttp.ClientError, request_id: str
) -> web.Response:
    _LOGGER.warning("upstream failed mid-response for %s %s: %s", request.method, request.path, exc)
    status = web.HTTPGatewayTimeout if isinstance(exc, TimeoutError) else web.HTTPBadGateway
    return upstream_failure(request, status.status_code, request_id)


def _sets_session_cookie(headers: CIMultiDict[str]) -> bool:
    return any(
        value.lstrip().startswith(_SESSION_COOKIE_PREFIXES)
        for value in headers.getall(hdrs.SET_COOKIE)
    )


async def _stream_body(
    request: web.BaseRequest,
    upstream: UpstreamResponse,
    response: web.StreamResponse,
    encoder: compression.Encoder | None,
) -> None:
    while True:
        try:
            chunk = await upstream.readany()
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


def _target(request: web.BaseRequest) -> str:
    # The raw path and query go through byte for byte: re-encoding could change what the
    # upstream routes on.
    target = request.rel_url.raw_path
    if request.rel_url.raw_query_string:
        target += "?" + request.rel_url.raw_query_string
    return target


def _target_url(upstream: Upstream, request: web.BaseRequest) -> URL:
    return URL(upstream.origin + _target(request), encoded=True)


def _log_failure(
    request: web.BaseRequest, upstream: Upstream, request_id: str, exc: BaseException
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
