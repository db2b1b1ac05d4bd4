"""Form pages: every page with a form carries the CSRF token, and shows a flash message once."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authara_contract.headers import NO_STORE
from authara_core.platform.cookies import CookieWriter, csrf_token_of
from authara_core.platform.flash import clear_flash, read_flash
from authara_core.platform.render import Renderer


class FormRenderer:
    """Render a page holding forms: the CSRF token in `csrf_token` (its cookie set if new)."""

    def __init__(self, renderer: Renderer, cookie_writer: CookieWriter) -> None:
        self._renderer = renderer
        self._cookies = cookie_writer

    def page(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        show_flash: bool = False,
        no_store: bool = True,
        **context: Any,
    ) -> web.Response:
        """Render `template`; `show_flash` passes the flash cookie's message in and clears it.

        A caller that showed the flash itself (next to a field) passes `flash=None`.

        `no_store` (the default) keeps the page out of caches: most forms hold flow state
        (an invitation's token, a challenge's id) or follow a sign-in.
        """
        csrf, is_new = csrf_token_of(request)
        if show_flash:
            context.setdefault("flash", read_flash(request))
        response = self._renderer.page(request, template, status=status, csrf_token=csrf, **context)
        if show_flash:
            clear_flash(request, response)
        if no_store:
            response.headers["Cache-Control"] = NO_STORE
        if is_new:
            self._cookies.set_csrf(response, csrf)
        return response
