"""WebSocket proxying: one upstream connection per client connection, messages relayed as is.

The gateway terminates the WebSocket on both sides (as Home Assistant's ingress does) rather
than splicing bytes, so each hop negotiates its own extensions and answers its own pings;
text, binary and close codes pass through unchanged. The subprotocol the upstream picks is
the one the client gets (aiohttp's client writes its own Sec-WebSocket-* handshake headers
upstream). An upstream that refuses the upgrade has its status passed on.
"""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable
from typing import Final

import aiohttp
from aiohttp import WSMsgType, hdrs, web
from multidict import CIMultiDict
from yarl import URL

from authara_contract import headers as contract_headers

from .negotiation import header_tokens

_LOGGER = logging.getLogger(__name__)

# One message is held in memory whole on its way through; bound it.
MAX_MESSAGE: Final = 16 * 1024 * 1024
CLOSE_TIMEOUT: Final = 5.0
_CLOSING: Final = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})


def is_upgrade(request: web.BaseRequest) -> bool:
    """Tell whether the client asks to switch this request to a WebSocket."""
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket" and (
        "upgrade" in header_tokens(request.headers.getall(hdrs.CONNECTION, ()))
    )


class WebSocketRelay:
    """Relay WebSocket connections and close them all when the gateway shuts down."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def relay(
        self,
        request: web.BaseRequest,
        url: URL,
        headers: CIMultiDict[str],
        *,
        request_id: str,
        set_cookies: Iterable[str] = (),
    ) -> web.StreamResponse:
        """Open the upstream WebSocket, accept the client's, and pump messages both ways.

        Raises aiohttp.ClientConnectorError when the upstream cannot be reached, before
        anything has been sent to the client, so the caller may try another upstream.
        """
        # In the client's order of preference (a set would lose it).
        protocols = tuple(
            token.strip()
            for value in request.headers.getall(hdrs.SEC_WEBSOCKET_PROTOCOL, ())
            for token in value.split(",")
            if token.strip()
        )
        try:
            upstream = await self._session.ws_connect(
                url,
                headers=headers,
                protocols=protocols,
                max_msg_size=MAX_MESSAGE,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=CLOSE_TIMEOUT),
            )
        except aiohttp.WSServerHandshakeError as exc:
            return _refused(exc, request_id)
        client = web.WebSocketResponse(
            protocols=(upstream.protocol,) if upstream.protocol else (),
            max_msg_size=MAX_MESSAGE,
        )
        client.headers[contract_headers.REQUEST_ID] = request_id
        for cookie in set_cookies:
            client.headers.add(hdrs.SET_COOKIE, cookie)
        async with upstream:
            await client.prepare(request)
            self._open.add(client)
            await _pump(client, upstream)
        return client

    async def close_all(self) -> None:
        """Close every relayed connection with 1001 Going Away (at shutdown)."""
        await asyncio.gather(
            *(ws.close(code=aiohttp.WSCloseCode.GOING_AWAY) for ws in list(self._open)),
            return_exceptions=True,
        )


async def _pump(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    to_upstream = asyncio.create_task(_forward(client, upstream))
    to_client = asyncio.create_task(_forward(upstream, client))
    try:
        await asyncio.wait((to_upstream, to_client), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (to_upstream, to_client):
            task.cancel()
        await asyncio.gather(to_upstream, to_client, return_exceptions=True)
        code = client.close_code or upstream.close_code or aiohttp.WSCloseCode.OK
        with contextlib.suppress(Exception):
            await upstream.close(code=code)
        with contextlib.suppress(Exception):
            await client.close(code=upstream.close_code or code)


async def _forward(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    target: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
) -> None:
    while True:
        message = await source.receive()
        if message.type == WSMsgType.TEXT:
            await target.send_str(message.data)
        elif message.type == WSMsgType.BINARY:
            await target.send_bytes(message.data)
        elif message.type in _CLOSING or message.type == WSMsgType.ERROR:
            if message.type == WSMsgType.CLOSE:
                await target.close(code=message.data, message=(message.extra or "").encode())
            return


def _refused(exc: aiohttp.WSServerHandshakeError, request_id: str) -> web.Response:
    status = exc.status if 400 <= exc.status < 600 else web.HTTPBadGateway.status_code
    _LOGGER.info("upstream refused a WebSocket upgrade: %s", exc)
    return web.Response(
        status=status,
        headers={
            contract_headers.REQUEST_ID: request_id,
            hdrs.CACHE_CONTROL: contract_headers.NO_STORE,
        },
    )
