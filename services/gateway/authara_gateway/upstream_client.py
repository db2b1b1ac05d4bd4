"""A lean HTTP/1.1 client for the proxy's hot path: keep-alive pools per upstream, streamed bodies.

`aiohttp.ClientSession` does a lot per request that a reverse proxy does not need (URL and
cookie handling, redirects, traces, auto headers, decompression, a response object with
its own state machine); measured here it costs about as much CPU as the rest of the gateway
together. This client keeps aiohttp's parts that matter: the same connection protocol and
C response parser (`ResponseHandler`, with its flow control and read timeout) and the same
request writer (`StreamWriter`). The headers the proxy built are written as they are, the
body streams from the client's request, and a connection goes back to its pool only after a
complete exchange. WebSockets, the refresh call and readiness still use a ClientSession.
"""

import asyncio
import contextlib
import time
from collections import deque
from typing import Final

from aiohttp import ClientConnectionError, ServerDisconnectedError, StreamReader, hdrs
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import HttpProcessingError, RawResponseMessage, StreamWriter
from multidict import CIMultiDict, CIMultiDictProxy

from .settings import Upstream

# An idle upstream connection older than this may already be closing on the other side.
KEEPALIVE: Final = 15.0
READ_BUFFER: Final = 2**16
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class UpstreamUnreachable(Exception):
    """No connection could be opened: nothing was sent, another upstream may be tried."""

    def __init__(self, upstream: Upstream, cause: BaseException) -> None:
        super().__init__(f"{upstream.host}:{upstream.port}: {cause or type(cause).__name__}")
        self.timed_out = isinstance(cause, TimeoutError)


class UpstreamResponse:
    """An upstream's status, headers and streamed body; the connection goes back on release."""

    def __init__(
        self,
        client: "UpstreamClient",
        upstream: Upstream,
        protocol: ResponseHandler,
        message: RawResponseMessage,
        content: StreamReader,
        body_task: asyncio.Task[None] | None,
    ) -> None:
        self._client = client
        self._upstream = upstream
        self._protocol: ResponseHandler | None = protocol
        self._body_task = body_task
        self.status = message.code
        self.reason = message.reason
        self.headers: CIMultiDictProxy[str] = message.headers
        self.content = content
        content.on_eof(self.release)

    @property
    def content_length(self) -> int | None:
        """Return the declared body length, if any."""
        value = self.headers.get(hdrs.CONTENT_LENGTH)
        return int(value) if value is not None and value.isdigit() else None

    async def read(self) -> bytes:
        """Read the whole body."""
        return await self.content.read()

    def release(self) -> None:
        """Return the connection to the pool if the exchange is complete, else close it."""
        protocol, self._protocol = self._protocol, None
        if protocol is None:
            return
        body_sent = self._body_task is None or (
            self._body_task.done()
            and not self._body_task.cancelled()
            and self._body_task.exception() is None
        )
        if body_sent and self.content.is_eof() and not protocol.should_close:
            self._client.give_back(self._upstream, protocol)
            return
        protocol.close()
        if self._body_task is not None and not self._body_task.done():
            self._body_task.cancel()

    async def __aenter__(self) -> "UpstreamResponse":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.release()


class UpstreamClient:
    """Send requests to upstreams over pooled keep-alive connections."""

    def __init__(self, *, connect_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        # Per upstream, oldest first: reuse takes the newest, pruning drops the oldest.
        self._idle: dict[Upstream, deque[tuple[ResponseHandler, float]]] = {}

    async def request(
        self,
        upstream: Upstream,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: StreamReader | None,
        *,
        read_timeout: float | None,
    ) -> UpstreamResponse:
        """Send one request; raise UpstreamUnreachable, TimeoutError or a ClientError.

        `headers` are written as given (the proxy already removed hop-by-hop ones); a body
        without Content-Length is sent chunked.
        """
        # A kept-alive connection the upstream closed meanwhile fails before any answer;
        # a request whose body was not read yet can go again on a fresh connection.
        retry = body is None and method in _IDEMPOTENT
        while True:
            protocol, reused = await self._connection(upstream)
            try:
                return await self._exchange(
                    upstream, protocol, method, target, headers, body, read_timeout
                )
            except (ServerDisconnectedError, ConnectionResetError, BrokenPipeError):
                protocol.close()
                if not (reused and retry):
                    raise
                retry = False
            except BaseException:
                protocol.close()
                raise

    def give_back(self, upstream: Upstream, protocol: ResponseHandler) -> None:
        """Keep a connection whose exchange completed for the next request."""
        if not protocol.is_connected():
            protocol.close()
            return
        now = time.monotonic()
        pool = self._idle.setdefault(upstream, deque())
        pool.append((protocol, now))
        # Connections left over from a past burst are closed once they are too old to trust.
        while pool and (now - pool[0][1] >= KEEPALIVE or not pool[0][0].is_connected()):
            pool.popleft()[0].close()

    def close(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            for protocol, _ in pool:
                protocol.close()
        self._idle.clear()

    async def _connection(self, upstream: Upstream) -> tuple[ResponseHandler, bool]:
        pool = self._idle.get(upstream)
        now = time.monotonic()
        while pool:
            protocol, since = pool.pop()
            if protocol.is_connected() and now - since < KEEPALIVE:
                return protocol, True
            protocol.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: ResponseHandler(loop), upstream.host, upstream.port
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamUnreachable(upstream, exc) from exc
        return protocol, False

    async def _exchange(
        self,
        upstream: Upstream,
        protocol: ResponseHandler,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: StreamReader | None,
        read_timeout: float | None,
    ) -> UpstreamResponse:
        loop = asyncio.get_running_loop()
        protocol.set_response_params(
            skip_payload=method == hdrs.METH_HEAD,
            read_until_eof=True,
            auto_decompress=False,
            read_timeout=read_timeout,
            read_bufsize=READ_BUFFER,
        )
        writer = StreamWriter(protocol, loop)
        if hdrs.HOST not in headers:
            headers[hdrs.HOST] = f"{upstream.host}:{upstream.port}"
        body_task = None
        if body is not None and hdrs.CONTENT_LENGTH not in headers:
            headers[hdrs.TRANSFER_ENCODING] = "chunked"
            writer.enable_chunking()
        await writer.write_headers(f"{method} {target} HTTP/1.1", headers)
        if body is None:
            writer.set_eof()
        else:
            body_task = asyncio.create_task(_send_body(writer, body, protocol))
        protocol.start_timeout()
        try:
            message, content = await _response_head(protocol)
        except BaseException:
            if body_task is not None:
                body_task.cancel()
                with contextlib.suppress(BaseException):
                    await body_task
            raise
        return UpstreamResponse(self, upstream, protocol, message, content, body_task)


async def _response_head(protocol: ResponseHandler) -> tuple[RawResponseMessage, StreamReader]:
    while True:
        try:
            message, content = await protocol.read()
        except HttpProcessingError as exc:
            raise ClientConnectionError(f"invalid response from upstream: {exc.message}") from exc
        # 1xx interim answers (103 Early Hints, a stray 100) are not passed on.
        if not 100 <= message.code < 200:
            return message, content


async def _send_body(writer: StreamWriter, body: StreamReader, protocol: ResponseHandler) -> None:
    try:
        while chunk := await body.readany():
            await writer.write(chunk)
        await writer.write_eof()
    except (ConnectionError, ClientConnectionError):
        protocol.close()  # the upstream went away mid-upload; its answer (if any) stands
