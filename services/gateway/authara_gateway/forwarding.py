"""Headers the gateway removes, rebuilds or adds when forwarding (RFC 9110 §7.6.1).

Hop-by-hop headers describe one connection and never cross the proxy, in either direction.
Forwarding headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`, `True-Client-IP`) are only
believed from a configured trusted proxy; core reads the first X-Forwarded-For entry when it
trusts proxy headers, so a client must never be able to choose it.
"""

import functools
import ipaddress
import re
import secrets
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
_SANE_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
# From a trusted proxy the forwarding headers stay, except X-Forwarded-For: it is extended.
_CHAIN: Final = frozenset({hdrs.X_FORWARDED_FOR.lower()})
_NOTHING: Final[frozenset[str]] = frozenset()


def request_id_for(incoming: str | None) -> str:
    """Keep a sane incoming X-Request-Id, otherwise make a new one."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)


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
    request: web.BaseRequest, *, request_id: str, trusted_peer: bool
) -> CIMultiDict[str]:
    """Copy the client's headers for the upstream, rebuilding the forwarding ones.

    Every X-Authara-* header goes too (in any casing, `_` for `-`): only the gateway may
    send the app identity.
    """
    source = request.headers
    # The original Host always reaches the upstream (as with Caddy), even when a client
    # lists it in Connection.
    listed = _connection_tokens(source) - {"host"}
    forwarding = FORWARDING if not trusted_peer else _CHAIN
    kept = []
    for name, value in source.items():
        lowered, dropped = _classify(name)
        if not (dropped or lowered in forwarding or lowered in listed):
            kept.append((name, value))
    headers = CIMultiDict(kept)
    _set_forwarded(headers, request, trusted_peer=trusted_peer)
    headers[contract_headers.REQUEST_ID] = request_id
    return headers


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
    if hdrs.CONNECTION not in headers:
        return _NOTHING
    return header_tokens(headers.getall(hdrs.CONNECTION))


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
    headers: CIMultiDict[str], request: web.BaseRequest, *, trusted_peer: bool
) -> None:
    client_ip = request.remote or ""
    chain = request.headers.getall(hdrs.X_FORWARDED_FOR, ()) if trusted_peer else ()
    headers[hdrs.X_FORWARDED_FOR] = ", ".join([*chain, client_ip])
    headers.setdefault(hdrs.X_FORWARDED_PROTO, "https" if request.secure else "http")
    headers.setdefault(hdrs.X_FORWARDED_HOST, request.host)
