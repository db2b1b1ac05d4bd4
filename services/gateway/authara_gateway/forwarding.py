"""Headers the gateway removes, rebuilds or adds when forwarding (RFC 9110 §7.6.1).

Hop-by-hop headers describe one connection and never cross the proxy, in either direction.
Forwarding headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `True-Client-IP`) are only
believed from a configured trusted proxy; core reads the last X-Forwarded-For entry when it
trusts proxy headers, so that entry is always the client as the gateway and its trusted proxies
saw it, never a value a client chose.
"""

import functools
import ipaddress
from collections.abc import Sequence
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
# From a trusted proxy the forwarding headers stay, except X-Forwarded-For: it is rebuilt.
_CHAIN: Final = frozenset({hdrs.X_FORWARDED_FOR.lower()})
_NOTHING: Final[frozenset[str]] = frozenset()


def is_trusted_peer(remote: str | None, networks: Sequence[IPNetwork]) -> bool:
    """Tell whether the direct peer is a proxy whose forwarding headers we extend."""
    if remote is None or not networks:
        return False
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    return any(address in network for network in networks)


def upstream_request_headers(
    request: web.BaseRequest,
    *,
    request_id: str,
    trusted_peer: bool,
    trusted_networks: Sequence[IPNetwork] = (),
) -> CIMultiDict[str]:
    """Copy the client's headers for the upstream, rebuilding the forwarding ones.

    Every X-Authara-* header goes too (in any casing, `_` for `-`): only the gateway may
    send the app identity.
    """
    source = request.headers
    # The original Host always reaches the upstream (as with Caddy), even when a client
    # lists it in Connection.
    listed = _connection_tokens(source) - {"host"} if hdrs.CONNECTION in source else _NOTHING
    forwarding = FORWARDING if not trusted_peer else _CHAIN
    kept = []
    for name, value in source.items():
        lowered, dropped = _classify(name)
        if not (dropped or lowered in forwarding or lowered in listed):
            kept.append((name, value))
    if trusted_peer:
        headers = CIMultiDict(kept)
        _set_forwarded(headers, request, trusted_networks)
        headers[contract_headers.REQUEST_ID] = request_id
        return headers
    # Every forwarding header and the request id were dropped: append them in one go.
    kept.append((hdrs.X_FORWARDED_FOR, request.remote or ""))
    kept.append((hdrs.X_FORWARDED_PROTO, "https" if request.secure else "http"))
    kept.append((hdrs.X_FORWARDED_HOST, request.host))
    kept.append((contract_headers.REQUEST_ID, request_id))
    return CIMultiDict(kept)


def client_response_headers(
    upstream: CIMultiDictProxy[str], *, request_id: str
) -> CIMultiDict[str]:
    """Copy the upstream's response headers for the client, keeping repeated ones."""
    listed = _connection_tokens(upstream)
    kept = []
    for name, value in upstream.items():
        lowered, hop = _classify_response(name)
        if not (hop or lowered in listed):
            kept.append((name, value))
    headers = CIMultiDict(kept)
    headers[contract_headers.REQUEST_ID] = request_id
    return headers


def _connection_tokens(headers: CIMultiDictProxy[str]) -> frozenset[str]:
    values = headers.getall(hdrs.CONNECTION, ())
    if not values:
        return _NOTHING
    if len(values) == 1:
        return _tokens(values[0])
    return header_tokens(values)


# One Connection header with a common value (`keep-alive`, `close`) is the usual case.
@functools.lru_cache(maxsize=256)
def _tokens(value: str) -> frozenset[str]:
    return header_tokens((value,))


@functools.lru_cache(maxsize=4096)
def _classify_response(name: str) -> tuple[str, bool]:
    """Return a response header's lower-cased name and whether it is hop-by-hop."""
    lowered = name.lower()
    return lowered, lowered in HOP_BY_HOP or lowered.startswith(_PROXY_PREFIX)


# Header names repeat from request to request; the memo is bounded (names are client-chosen).
@functools.lru_cache(maxsize=4096)
def _classify(name: str) -> tuple[str, bool]:
    """Return a request header's lower-cased name and whether it never goes upstream."""
    lowered = name.lower()
    dropped = (
        lowered in HOP_BY_HOP
        or lowered in _REQUEST_ONLY
        or lowered.startswith(_PROXY_PREFIX)
        # CGI/WSGI servers map `_` and `-` to the same variable.
        or contract_headers.is_identity_header(lowered.replace("_", "-"))
    )
    return lowered, dropped


def _set_forwarded(
    headers: CIMultiDict[str], request: web.BaseRequest, networks: Sequence[IPNetwork]
) -> None:
    """Name the client last in X-Forwarded-For; keep a trusted proxy's -Proto and -Host.

    The hops are the proxy's chain plus the proxy itself. Trailing hops inside the trusted
    networks are our own proxies, not the client: they are dropped, so that the last entry,
    the one core reads, is the right-most address no trusted proxy vouches for (nginx's
    `real_ip_recursive`). Entries left of it came from the client and stay for the app.
    """
    hops = [
        hop.strip()
        for value in request.headers.getall(hdrs.X_FORWARDED_FOR, ())
        for hop in value.split(",")
        if hop.strip()
    ]
    hops.append(request.remote or "")
    while len(hops) > 1 and is_trusted_peer(hops[-1], networks):
        hops.pop()
    headers[hdrs.X_FORWARDED_FOR] = ", ".join(hops)
    headers.setdefault(hdrs.X_FORWARDED_PROTO, "https" if request.secure else "http")
    headers.setdefault(hdrs.X_FORWARDED_HOST, request.host)
