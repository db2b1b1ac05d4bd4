"""A lean HTTP/1.1 client for the proxy's hot path: keep-alive pools per upstream, streamed bodies.

`aiohttp.ClientSession` does a lot per request that a reverse proxy does not need (URL and
cookie handling, redirects, traces, auto headers, decompression, a response object with
its own state machine); measured here it costs about as much CPU as the rest of the gateway
together. This client keeps aiohttp's parts that matter: the same connection protocol and
C response parser (`ResponseHandler`, with its flow control) and the same
request writer (`StreamWriter`). The headers the proxy built are written as they are, the
body streams from the client's request, and a connection goes back to its pool only after a
complete exchange. WebSockets, the refresh call and readiness still use a ClientSession.

A kept-alive connection keeps its response parser from one exchange to the next (aiohttp's
client builds a new one per request), and the read timeout is one timer per wait for the
upstream rather than aiohttp's, which is rescheduled on every packet.
"""

import asyncio
import contextlib
import time
from collections import deque
from typing import Final

from aiohttp import (
    ClientConnectionError,
    ClientOSError,
    ServerDisconnectedError,
    SocketTimeoutError,
    StreamReader,
    hdrs,
)
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import HttpProcessingError, RawResponseMessage, StreamWriter
from multidict import CIMultiDict, CIMultiDictProxy

from .settings import Upstream

# An idle upstream connection older than this may already be closing on the other side.
KEEPALIVE: Final = 15.0
READ_BUFFER: Final = 2**16
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_READ_TIMEOUT_MESSAGE: Final = "Timeout on reading data from socket"


class UpstreamUnreachable(Exception):
    """No connection could be opened: nothing was sent, another upstream may be tried."""

    def __init__(self, upstream: Upstream, cause: BaseException) -> None:
        super().__init__(f"{upstream.host}:{upstream.port}: {cause or type(cause).__name__}")
        self.timed_out = isinstance(cause, TimeoutError)


class _Connection:
    """A pooled connection and the response parser settings it was last given."""

    __slots__ = ("head_only", "idle_since", "protocol")

    def __init__(self, protocol: ResponseHandler) -> None:
        self.protocol = protocol
        # None until the first exchange installs a parser (for a HEAD request or not).
        self.head_only: bool | None = None
        self.idle_since = 0.0


class UpstreamResponse:
    """An upstream's status, headers and streamed body; the connection goes back on release."""

    def __init__(
        self,
        client: "UpstreamClient",
        upstream: Upstream,
        connection: _Connection,
        message: RawResponseMessage,
        content: StreamReader,
        body_task: asyncio.Task[None] | None,
        read_timeout: float | None,
    ) -> None:
        self._client = client
        self._loop = client.loop
        self._upstream = upstream
        self._connection: _Connection | None = connection
        self._body_task = body_task
        self._read_timeout = read_timeout
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

    def body_if_complete(self) -> bytes | None:
        """Return the whole body if all of it has arrived (most small answers), else None."""
        content = self.content
        return content.read_nowait() if content.is_eof() else None

    async def read(self) -> bytes:
        """Read the whole body."""
        content = self.content
        if content.is_eof():
            return content.read_nowait()
        chunks = []
        while chunk := await self.readany():
            chunks.append(chunk)
        return b"".join(chunks)

    async def readany(self) -> bytes:
        """Return the next part of the body, b"" at its end.

        Raises a TimeoutError when the upstream sends nothing for the read timeout.
        """
        content = self.content
        chunk = content.read_nowait()
        if chunk or content.is_eof() or not self._read_timeout:
            return chunk or await content.readany()
        timer = self._loop.call_later(self._read_timeout, self._time_out)
        try:
            return await content.readany()
        finally:
            timer.cancel()

    def _time_out(self) -> None:
        exc = SocketTimeoutError(_READ_TIMEOUT_MESSAGE)
        if self._connection is not None:
            self._connection.protocol.set_exception(exc)
        self.content.set_exception(exc)

    def release(self) -> None:
        """Return the connection to the pool if the exchange is complete, else close it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        protocol = connection.protocol
        body_sent = self._body_task is None or (
            self._body_task.done()
            and not self._body_task.cancelled()
            and self._body_task.exception() is None
        )
        if body_sent and self.content.is_eof() and not protocol.should_close:
            self._client.give_back(self._upstream, connection)
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
        self._idle: dict[Upstream, deque[_Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """Return the event loop the client runs on (the running one at first use)."""
        # asyncio.get_running_loop() costs a getpid() system call on every call.
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

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
            connection = self._idle_connection(upstream)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(upstream)
            try:
                return await self._exchange(
                    upstream, connection, method, target, headers, body, read_timeout
                )
            except (ServerDisconnectedError, ClientOSError, ConnectionResetError, BrokenPipeError):
                connection.protocol.close()
                if not (reused and retry):
                    raise
                retry = False
            except BaseException:
                connection.protocol.close()
                raise

    def give_back(self, upstream: Upstream, connection: _Connection) -> None:
        """Keep a connection whose exchange completed for the next request."""
        if not connection.protocol.is_connected():
            connection.protocol.close()
            return
        now = connection.idle_since = time.monotonic()
        pool = self._idle.get(upstream)
        if pool is None:
            pool = self._idle[upstream] = deque()
        pool.append(connection)
        # Connections left over from a past burst are closed once they are too old to trust.
        while now - pool[0].idle_since >= KEEPALIVE or not pool[0].protocol.is_connected():
            pool.popleft().protocol.close()

    def close(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            for connection in pool:
                connection.protocol.close()
        self._idle.clear()

    def _idle_connection(self, upstream: Upstream) -> _Connection | None:
        pool = self._idle.get(upstream)
        if pool:
            now = time.monotonic()
            while pool:
                connection = pool.pop()
                if connection.protocol.is_connected() and now - connection.idle_since < KEEPALIVE:
                    return connection
                connection.protocol.close()
        return None

    async def _connect(self, upstream: Upstream) -> _Connection:
        loop = self.loop
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: ResponseHandler(loop), upstream.host, upstream.port
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamUnreachable(upstream, exc) from exc
        return _Connection(protocol)

    async def _exchange(
        self,
        upstream: Upstream,
        connection: _Connection,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: StreamReader | None,
        read_timeout: float | None,
    ) -> UpstreamResponse:
        protocol = connection.protocol
        loop = self.loop
        _prepare_parser(connection, head_only=method == hdrs.METH_HEAD)
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
        timer = None
        if read_timeout:  # None or 0: no limit
            timer = loop.call_later(read_timeout, _time_out, protocol)
        try:
            while True:
                try:
                    message, content = await protocol.read()
                except HttpProcessingError as exc:
                    problem = f"invalid response from upstream: {exc.message}"
                    raise ClientConnectionError(problem) from exc
                # 1xx interim answers (103 Early Hints, a stray 100) are not passed on.
                if not 100 <= message.code < 200:
                    break
        except BaseException:
            if body_task is not None:
                body_task.cancel()
                with contextlib.suppress(BaseException):
                    await body_task
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return UpstreamResponse(
            self, upstream, connection, message, content, body_task, read_timeout
        )


def _prepare_parser(connection: _Connection, *, head_only: bool) -> None:
    # A parser is good for any number of exchanges on its connection; it is rebuilt only
    # when HEAD (answers without a body) starts or stops.
    if connection.head_only is not head_only:
        connection.protocol.set_response_params(
            skip_payload=head_only,
            read_until_eof=True,
            auto_decompress=False,
            read_bufsize=READ_BUFFER,
        )
        connection.head_only = head_only


def _time_out(protocol: ResponseHandler) -> None:
    protocol.set_exception(SocketTimeoutError(_READ_TIMEOUT_MESSAGE))


async def _send_body(writer: StreamWriter, body: StreamReader, protocol: ResponseHandler) -> None:
    try:
        while chunk := await body.readany():
            await writer.write(chunk)
        await writer.write_eof()
    except (ConnectionError, ClientConnectionError):
        protocol.close()  # the upstream went away mid-upload; its answer (if any) stands
