"""Parse list-valued headers: `Connection`, `Vary`, `Accept` and friends."""

from collections.abc import Iterable


def quality_values(header: str) -> dict[str, float]:
    """Map each lower-cased token of `a;q=0.5, b` to its q-value (1.0 when absent)."""
    qualities: dict[str, float] = {}
    for item in header.split(","):
        token, *params = (part.strip() for part in item.split(";"))
        if not token:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _parse_quality(value.strip())
        token = token.lower()
        qualities[token] = max(quality, qualities.get(token, 0.0))
    return qualities


def _parse_quality(value: str) -> float:
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return min(max(quality, 0.0), 1.0)


def header_tokens(values: Iterable[str]) -> frozenset[str]:
    """Collect the lower-cased comma-separated tokens of one or more header values."""
    tokens = (token.strip().lower() for value in values for token in value.split(","))
    return frozenset(token for token in tokens if token)
