"""`authara-dev-mail`: the dev stack's SMTP sink. Catches every mail core sends; delivers none.

An aiosmtpd server on a loopback port (AUTHARA_DEV_MAIL_BIND, plain SMTP, no login: dev
only) stores each message as an `.eml` file in AUTHARA_DEV_MAIL_DIR and prints one line per
mail (recipient, subject, and the 6-digit code when there is one) to the stack's output.
The dev app shows the folder at /_dev/mail (mail_pages.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiosmtpd.smtp import SMTP, Envelope, Session

from authara_contract.env import parse_host_port

from .mail_folder import MailFolder, summary_line

PROGRAM: Final = "authara-dev-mail"
MAX_MESSAGE_BYTES: Final = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """Where the sink listens, where it stores mail, and where the mail page is."""

    host: str
    port: int
    folder: Path
    page_url: str | None


def load_settings(environ: Mapping[str, str]) -> SinkSettings:
    """Read AUTHARA_DEV_MAIL_BIND and AUTHARA_DEV_MAIL_DIR; raise ValueError naming the bad one."""
    bind = environ.get("AUTHARA_DEV_MAIL_BIND", "127.0.0.1:2525")
    try:
        host, port = parse_host_port(bind)
    except ValueError as exc:
        raise ValueError(f"AUTHARA_DEV_MAIL_BIND: {exc}, got {bind!r}") from None
    folder = environ.get("AUTHARA_DEV_MAIL_DIR", "")
    if not folder:
        raise ValueError("AUTHARA_DEV_MAIL_DIR: must name the folder caught mail goes to")
    # `authara dev` says where the pages are (the demo app's own address when the gateway
    # fronts another app); a sink started by hand assumes the gateway serves them.
    public_url = environ.get("PUBLIC_URL")
    page_url = environ.get("AUTHARA_DEV_MAIL_PAGE_URL") or (
        f"{public_url.rstrip('/')}/_dev/mail" if public_url else None
    )
    return SinkSettings(host=host, port=port, folder=Path(folder), page_url=page_url)


class CatchAll:
    """aiosmtpd handler: keep every message, say what came in."""

    def __init__(self, folder: MailFolder) -> None:
        self._folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message and print its summary."""
        caught = self._folder.store(envelope.original_content or b"", envelope.rcpt_tos)
        print(summary_line(caught), flush=True)
        return "250 2.0.0 Caught by the Authara dev mail sink (not delivered)"


async def serve(settings: SinkSettings) -> None:
    """Listen until SIGINT or SIGTERM."""
    folder = MailFolder(settings.folder)
    folder.create()
    handler = CatchAll(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="authara-dev-mail",
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
        ),
        settings.host,
        settings.port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    where = f" (read them at {settings.page_url})" if settings.page_url else ""
    print(
        f"catching mail on {settings.host}:{settings.port} into {settings.folder}{where}",
        flush=True,
    )
    async with server:
        await stop.wait()


def main() -> None:
    """Run the sink with the dev stack's environment."""
    try:
        settings = load_settings(os.environ)
    except ValueError as exc:
        print(f"{PROGRAM}: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        print(
            f"{PROGRAM}: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr
        )
        sys.exit(1)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
