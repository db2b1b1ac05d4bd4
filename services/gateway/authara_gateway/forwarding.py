"""Headers the gateway removes, rebuilds or adds when forwarding (RFC 9110 §7.6.1).

Hop-by-hop headers describe one connection and never cross the proxy, in either direction.
Forwarding headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `True-Client-IP`) are only
believed from a configured trusted proxy; core reads the first X-Forwarded-For entry when it
trusts proxy headers, so a client must never be able to choose it.
"""

import ipaddress
import re
import uuid
from collections.abc import Iterable
from typing import Final

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from authara_contract import headers as contract_headers

from .negotiation import header_tokens
from .settings import IPNetwork

HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_PROXY_PREFIX: Final = "proxy-"
FORWARDING: Final = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "true-client-ip",
    }
)
# The gateway's server already answered `Expect: 100-continue`; the upstream must not wait
# for a second handshake. The request id is rebuilt so a client cannot inject a bad one.
_REQUEST_ONLY: Final = frozenset({"expect", contract_headers.REQUEST_ID.lower()})
_SANE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id_for(incoming: str | None) -> str:
    """Keep a sane incoming X-Request-Id, otherwise make a new one."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def is_trusted_peer(remote: str | None, networks: Iterable[IPNetwork]) -> bool:
    """Tell whether the direct peer is a proxy whose forwarding headers we extend."""
    if remote is None:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in networks)


def upstream_request_headers(
    request: web.BaseRequest, *, request_id: str, trusted_peer: bool
) -> CIMultiDict[str]:
    """Copy the client's headers for the upstream, rebuilding the forwarding ones."""
    # The original Host always reaches the upstream (as with Caddy), even when a client
    # lists it in Connection.
    drop = (_connection_scoped(request.headers) - {"host"}) | _REQUEST_ONLY
    drop |= FORWARDING if not trusted_peer else {hdrs.X_FORWARDED_FOR.lower()}
    headers = CIMultiDict(
        (name, value) for name, value in request.headers.items() if not _is_dropped(name, drop)
    )
    _set_forwarded(headers, request, trusted_peer=trusted_peer)
    headers[contract_headers.REQUEST_ID] = request_id
    return headers


def client_response_headers(
    upstream: CIMultiDictProxy[str], *, request_id: str
) -> CIMultiDict[str]:
    """Copy the upstream's response headers for the client, keeping repeated ones."""
    drop = _connection_scoped(upstream)
    headers = CIMultiDict(
        (name, value) for name, value in upstream.items() if not _is_dropped(name, drop)
    )
    headers[contract_headers.REQUEST_ID] = request_id
    return headers


def _connection_scoped(headers: CIMultiDictProxy[str]) -> frozenset[str]:
    return HOP_BY_HOP | header_tokens(headers.getall(hdrs.CONNECTION, ()))


def _is_dropped(name: str, drop: frozenset[str]) -> bool:
    lowered = name.lower()
    return lowered in drop or lowered.startswith(_PROXY_PREFIX)


def _set_forwarded(
    headers: CIMultiDict[str], request: web.BaseRequest, *, trusted_peer: bool
) -> None:
    client_ip = request.remote or ""
    chain = request.headers.getall(hdrs.X_FORWARDED_FOR, ()) if trusted_peer else ()
    headers[hdrs.X_FORWARDED_FOR] = ", ".join([*chain, client_ip])
    headers.setdefault(hdrs.X_FORWARDED_PROTO, "https" if request.secure else "http")
    headers.setdefault(hdrs.X_FORWARDED_HOST, request.host)
