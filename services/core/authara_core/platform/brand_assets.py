"""Serve the brand stylesheet (built once) and the images of AUTHARA_BRAND_DIR."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from aiohttp import web

from authara_contract import routes
from authara_core.platform.brand import (
    IMAGE_TYPES,
    Brand,
    brand_file_name,
    brand_stylesheet,
    stylesheet_version,
)
from authara_core.platform.errors import NotFound

# Brand images may be SVG: opened on their own, they run no script and load nothing. This
# policy comes on top of the pages' (the envelope adds that one too; browsers enforce both).
FILE_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_CACHE_CSS: Final = "public, max-age=86400"
_CACHE_FILE: Final = "public, max-age=3600"


class BrandAssets:
    """GET /auth/brand.css and GET /auth/brand/{name}."""

    def __init__(self, brand: Brand) -> None:
        self._directory = brand.directory
        css = brand_stylesheet(brand)
        self._css = css.encode()
        self._etag = stylesheet_version(css)
        # Pages link the stylesheet only when there is a color to apply.
        self.css_url = f"{routes.BRAND_CSS}?v={self._etag}" if brand.color else ""

    async def stylesheet(self, request: web.Request) -> web.Response:
        """Answer the brand colors as custom properties (the link's `?v=` changes with them)."""
        if request.if_none_match and any(tag.value == self._etag for tag in request.if_none_match):
            return web.Response(status=304, headers={"ETag": f'"{self._etag}"'})
        return web.Response(
            body=self._css,
            content_type="text/css",
            charset="utf-8",
            headers={"Cache-Control": _CACHE_CSS, "ETag": f'"{self._etag}"'},
        )

    async def file(self, request: web.Request) -> web.StreamResponse:
        """One image straight under AUTHARA_BRAND_DIR, its type fixed by its suffix."""
        name = brand_file_name(request.path)
        if name is None or self._directory is None:
            raise NotFound
        path = await asyncio.get_running_loop().run_in_executor(
            None, _locate, self._directory, name
        )
        if path is None:
            raise NotFound
        return web.FileResponse(
            path,
            headers={
                "Content-Type": IMAGE_TYPES[path.suffix.lower()],
                "Cache-Control": _CACHE_FILE,
                "Content-Security-Policy": FILE_CSP,
            },
        )


def _locate(directory: Path, name: str) -> Path | None:
    """Return the real path if it is a regular image file inside `directory`, else None."""
    path = (directory / name).resolve()
    if not path.is_relative_to(directory) or not path.is_file():
        return None
    if path.suffix.lower() not in IMAGE_TYPES:  # a link named .png to some other file
        return None
    return path
