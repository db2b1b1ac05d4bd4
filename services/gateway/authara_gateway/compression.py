"""When the gateway gzips a response the upstream left uncompressed."""

import zlib
from typing import Final

from aiohttp import hdrs, web
from multidict import CIMultiDict

from authara_contract.routes import STATIC_PREFIX

from .negotiation import header_tokens, quality_values

GZIP_LEVEL: Final = 5  # Caddy's default
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # gzip framing, not raw deflate
# Below this a gzip header and trailer cost more than they save (Caddy uses the same bound).
MIN_COMPRESS_LENGTH: Final = 512
_TEXTUAL: Final = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/x-javascript",
        "application/xml",
        "image/svg+xml",
    }
)
_EVENT_STREAM: Final = "text/event-stream"
_NO_BODY_STATUSES: Final = frozenset({204, 304})


def should_compress(request: web.BaseRequest, status: int, headers: CIMultiDict[str]) -> bool:
    """Tell whether to gzip this upstream response on its way to the client."""
    return (
        _response_allows(status, headers)
        and _request_allows(request)
        and _is_textual(headers.get(hdrs.CONTENT_TYPE, ""))
        and not _too_short(headers.get(hdrs.CONTENT_LENGTH))
    )


class GzipEncoder:
    """Gzip a body chunk by chunk, flushing after each so no data waits in the compressor.

    aiohttp's own response compression holds small writes back until zlib's buffer fills,
    which would stall streamed text (progress lines, long polls) behind the gateway.
    """

    def __init__(self, level: int = GZIP_LEVEL) -> None:
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)

    def encode(self, chunk: bytes) -> bytes:
        """Compress one chunk and flush it to a byte boundary."""
        return self._zlib.compress(chunk) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        """Return the end of the gzip stream (final block and trailer)."""
        return self._zlib.flush(zlib.Z_FINISH)


def mark_gzipped(headers: CIMultiDict[str]) -> None:
    """Rewrite the response headers for a body the gateway gzips on the fly."""
    headers[hdrs.CONTENT_ENCODING] = "gzip"
    headers.popall(hdrs.CONTENT_LENGTH, None)
    if not header_tokens(headers.getall(hdrs.VARY, ())) & {"*", "accept-encoding"}:
        headers.add(hdrs.VARY, hdrs.ACCEPT_ENCODING)
    etag = headers.get(hdrs.ETAG)
    # The gzipped bytes are not what the upstream's strong ETag names.
    if etag is not None and not etag.startswith("W/"):
        headers[hdrs.ETAG] = "W/" + etag


def _response_allows(status: int, headers: CIMultiDict[str]) -> bool:
    cache_control = headers.get(hdrs.CACHE_CONTROL, "").lower()
    return (
        status >= 200
        and status not in _NO_BODY_STATUSES
        and hdrs.CONTENT_ENCODING not in headers
        and hdrs.CONTENT_RANGE not in headers
        and "no-transform" not in cache_control
    )


def _request_allows(request: web.BaseRequest) -> bool:
    if request.method == hdrs.METH_HEAD or request.path.startswith(STATIC_PREFIX + "/"):
        return False
    if _EVENT_STREAM in request.headers.get(hdrs.ACCEPT, "").lower():
        return False
    return _accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))


def _accepts_gzip(accept_encoding: str) -> bool:
    qualities = quality_values(accept_encoding)
    return qualities.get("gzip", qualities.get("*", 0.0)) > 0.0


def _is_textual(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == _EVENT_STREAM:
        return False
    return (
        media_type.startswith("text/")
        or media_type in _TEXTUAL
        or media_type.endswith(("+json", "+xml"))
    )


def _too_short(content_length: str | None) -> bool:
    if content_length is None or not content_length.isdigit():
        return False
    return int(content_length) < MIN_COMPRESS_LENGTH
