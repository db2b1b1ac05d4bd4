"""The `return_to` rule (upstream contract §8)."""

from typing import Final
from urllib.parse import quote

DEFAULT: Final = "/"


def is_safe_return_to(value: str) -> bool:
    """Accept only a local absolute path: leading `/`, not `//`, no backslash or controls.

    Nor lone surrogates: they cannot be encoded into a Location header.
    """
    if not value or value != value.strip():
        return False
    if not value.startswith("/") or value.startswith("//"):
        return False
    return not any(
        ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F or 0xD800 <= ord(ch) <= 0xDFFF
        for ch in value
    )


def resolve_return_to(candidate: str | None, fallback: str) -> str:
    """Return the candidate when it is safe, else the fallback."""
    if candidate is not None and is_safe_return_to(candidate):
        return candidate
    return fallback


def with_return_to(path: str, return_to: str) -> str:
    """Append `?return_to=<url-encoded>` to a path the way upstream builds URLs."""
    return f"{path}?return_to={quote(return_to, safe='')}"
