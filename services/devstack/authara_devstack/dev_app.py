"""`authara-dev-demo`: the demo app as `authara dev` runs it, plus the caught-mail pages.

The demo app (examples/demo) stays an example of an application behind Authara; the dev
stack adds /_dev/mail to it here, so the pages are reachable through the gateway at the
stack's address and exist nowhere else (no image installs the devstack package).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Final

from aiohttp import web

from authara_demo.app import create_app, load_settings

from .mail_folder import MailFolder
from .mail_pages import MAIL_PATH, add_mail_pages

PROGRAM: Final = "authara-dev-demo"
_LOGGER = logging.getLogger(__name__)


def main() -> None:
    """Serve the demo app with the mail pages on DEMO_BIND."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(os.environ)
    except ValueError as exc:
        print(f"{PROGRAM}: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(2)
    folder = os.environ.get("AUTHARA_DEV_MAIL_DIR")
    if not folder:
        print(f"{PROGRAM}: invalid configuration: AUTHARA_DEV_MAIL_DIR is not set", file=sys.stderr)
        sys.exit(2)
    app = create_app(settings)
    add_mail_pages(app, MailFolder(Path(folder)))
    _LOGGER.info(
        "demo app listening on http://%s:%d (caught mail at %s)",
        settings.host,
        settings.port,
        MAIL_PATH,
    )
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None)
    except OSError as exc:
        print(
            f"{PROGRAM}: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        sys.exit(1)
