"""Who is calling: the client IP used for rate limiting."""

from __future__ import annotations

import ipaddress

from aiohttp import web


def client_ip(request: web.Request, *, trust_proxy_headers: bool) -> str | None:
    """Return the caller's IP: the peer, or behind a trusted proxy the last hop it recorded.

    The *last* X-Forwarded-For entry is the one our gateway appended; earlier entries come
    from the client and could be forged to dodge per-IP limits.
    """
    if trust_proxy_headers:
        forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            try:
                return str(ipaddress.ip_address(last))
            except ValueError:
                pass
    return request.remote
