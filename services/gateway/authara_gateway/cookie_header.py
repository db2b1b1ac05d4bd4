"""Read and rewrite Cookie headers, parse and build Set-Cookie headers for session cookies.

The hot path reads three cookies out of every request; aiohttp's general parser builds a
Morsel per cookie, which costs more than verifying a cached token, so this reads only the
names asked for. As with Go's `Request.Cookie`, the first cookie of a name wins.
"""

from collections.abc import Iterable, Mapping


def read_cookies(cookie_headers: Iterable[str], names: frozenset[str]) -> dict[str, str]:
    """Return the values of the named cookies (the first of each name)."""
    found: dict[str, str] = {}
    for header in cookie_headers:
        for item in header.split(";"):
            name, sep, value = item.partition("=")
            name = name.strip()
            if sep and name in names and name not in found:
                found[name] = value.strip().strip('"')
    return found


def cookie_pair(set_cookie: str) -> tuple[str, str]:
    """Return the name and value a Set-Cookie header sets."""
    name, _, value = set_cookie.partition(";")[0].partition("=")
    return name.strip(), value.strip().strip('"')


def rewrite_cookie_header(cookie_headers: Iterable[str], values: Mapping[str, str | None]) -> str:
    """Return a Cookie header with the session cookies replaced, removed or added."""
    pairs: list[str] = []
    pending = dict(values)
    for header in cookie_headers:
        for item in header.split(";"):
            pair = item.strip()
            if not pair:
                continue
            name = pair.partition("=")[0].strip()
            if name in values:
                replacement = pending.pop(name, None)
                if replacement is not None:
                    pairs.append(f"{name}={replacement}")
                continue
            pairs.append(pair)
    pairs.extend(f"{name}={value}" for name, value in pending.items() if value is not None)
    return "; ".join(pairs)
