"""Read and rewrite Cookie headers without aiohttp's general parser.

The hot paths read one to three cookies out of every request; aiohttp's parser builds a
Morsel per cookie, which costs more than the rest of a cached token check. As with Go's
`Request.Cookie` (upstream), the first cookie of a name wins; surrounding quotes are dropped.
"""

from collections.abc import Iterable, Mapping


def cookie_value(cookie_headers: Iterable[str], name: str) -> str | None:
    """Return the value of the first cookie called `name`, else None.

    As in Go, a value that is not ASCII is skipped: aiohttp hands undecodable bytes on as
    lone surrogates, which no token can contain and which break hashing and the database.
    """
    for header in cookie_headers:
        if name not in header:
            continue
        for item in header.split(";"):
            key, sep, value = item.partition("=")
            if sep and key.strip() == name and value.isascii():
                return value.strip().strip('"')
    return None


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
    """Return a Cookie header with the named cookies replaced, removed (None) or added."""
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
