"""`<program> healthcheck`: ask the server on this machine for its health endpoint."""

import asyncio
import sys
from typing import Final

import aiohttp
from aiohttp import web
from yarl import URL

HEALTHCHECK_TIMEOUT: Final = 5.0
_WILDCARD_HOSTS: Final = frozenset({"", "0.0.0.0", "::"})


def local_url(bind_host: str, port: int, path: str) -> URL:
    """Return the URL a health check on this machine uses for a server bound to `bind_host`."""
    host = "127.0.0.1" if bind_host in _WILDCARD_HOSTS else bind_host
    return URL.build(scheme="http", host=host, port=port, path=path)


def healthcheck(url: URL, *, program: str, within: float = HEALTHCHECK_TIMEOUT) -> int:
    """Return 0 when `url` answers 200, else 1; say which on stdout or stderr."""
    problem = asyncio.run(probe(url, within=within))
    if problem is not None:
        print(f"{program}: unhealthy: {url}: {problem}", file=sys.stderr)
        return 1
    print(f"{program}: healthy")
    return 0


async def probe(url: URL, *, within: float = HEALTHCHECK_TIMEOUT) -> str | None:
    """Return None when `url` answers 200, else what went wrong."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=within)) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status == web.HTTPOk.status_code:
                return None
            return f"status {response.status}"
    except (TimeoutError, aiohttp.ClientError) as exc:
        return str(exc) or exc.__class__.__name__
