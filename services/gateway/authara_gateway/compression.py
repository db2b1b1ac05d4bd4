"""When and how the gateway compresses a response the upstream left uncompressed.

zstd (`compression.zstd` from Python 3.14, its backport before) is chosen when the client
accepts it at least as much as gzip, as Caddy's `encode zstd gzip` does; otherwise gzip.
Encoders flush after every chunk so streamed text is never held back.
"""

import sys
import zlib
from typing import Final, Protocol

from aiohttp import hdrs, web
from multidict import CIMultiDict

from authara_contract.routes import STATIC_PREFIX

from .negotiation import header_tokens, quality_values

if sys.version_info >= (3, 14):
    from compression.zstd import ZstdCompressor
else:
    from backports.zstd import ZstdCompressor

GZIP: Final = "gzip"
ZSTD: Final = "zstd"
GZIP_LEVEL: Final = 5  # Caddy's default
ZSTD_LEVEL: Final = 3  # zstd's (and Caddy's) default
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


class Encoder(Protocol):
    """Compress a body chunk by chunk."""

    def encode(self, chunk: bytes) -> bytes:
        """Compress one chunk and flush it."""

    def finish(self) -> bytes:
        """Return the end of the compressed stream."""


def choose_encoding(request: web.BaseRequest, status: int, headers: CIMultiDict[str]) -> str | None:
    """Return the encoding to compress this upstream response with, or None."""
    accept_encoding = request.headers.get(hdrs.ACCEPT_ENCODING, "")
    if not accept_encoding:
        return None
    if not (
        _response_allows(status, headers)
        and _is_textual(headers.get(hdrs.CONTENT_TYPE, ""))
        and not _too_short(headers.get(hdrs.CONTENT_LENGTH))
        and _request_allows(request)
    ):
        return None
    return _accepted_encoding(accept_encoding)


def make_encoder(encoding: str) -> Encoder:
    """Return a fresh encoder for an encoding `choose_encoding` picked."""
    return ZstdEncoder() if encoding == ZSTD else GzipEncoder()


class ZstdEncoder:
    """Zstandard-compress a body chunk by chunk, flushing a block after each."""

    def __init__(self, level: int = ZSTD_LEVEL) -> None:
        self._zstd = ZstdCompressor(level=level)

    def encode(self, chunk: bytes) -> bytes:
        """Compress one chunk and flush it as a complete block."""
        return self._zstd.compress(chunk, mode=ZstdCompressor.FLUSH_BLOCK)

    def finish(self) -> bytes:
        """Return the end of the zstd frame."""
        return self._zstd.flush(ZstdCompressor.FLUSH_FRAME)


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


def mark_encoded(headers: CIMultiDict[str], encoding: str) -> None:
    """Rewrite the response headers for a body the gateway compresses on the fly."""
    headers[hdrs.CONTENT_ENCODING] = encoding
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
    return _EVENT_STREAM not in request.headers.get(hdrs.ACCEPT, "").lower()


def _accepted_encoding(accept_encoding: str) -> str | None:
    if not accept_encoding:
        return None
    qualities = quality_values(accept_encoding)
    anything = qualities.get("*", 0.0)
    gzip_quality = qualities.get(GZIP, anything)
    zstd_quality = qualities.get(ZSTD, anything)
    if zstd_quality > 0.0 and zstd_quality >= gzip_quality:
        return ZSTD
    return GZIP if gzip_quality > 0.0 else None


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
