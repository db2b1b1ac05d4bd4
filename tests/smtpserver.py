"""A real SMTP server process for the mail tests (aiosmtpd), writing what it receives to a folder.

    python -m tests.smtpserver --port 2525 --dir /tmp/mail [--cert C --key K] [--auth USER:PASS]
        [--behaviour accept|refuse|hang|silent]

Each accepted message becomes `<n>.eml` (the bytes as received) beside `<n>.json` (envelope
sender, recipients, whether the session was under TLS, the AUTH mechanism and login). With a
certificate the server offers STARTTLS and requires it before MAIL; `--auth` requires AUTH.
`refuse` answers every DATA with 554, `hang` never answers DATA, `silent` accepts TCP
connections and never says anything (not even the greeting). Prints `ready` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class Handler:
    """Store accepted messages, or refuse or stall DATA as told."""

    def __init__(self, folder: Path, behaviour: str) -> None:
        self._folder = folder
        self._behaviour = behaviour
        self._count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._behaviour == "refuse":
            return "554 5.7.1 Message rejected by policy"
        if self._behaviour == "hang":
            await asyncio.sleep(3600)
        self._count += 1
        stem = self._folder / f"{self._count:05d}"
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "auth": getattr(session, "auth_mechanism", None),
            "login": session.auth_data.login.decode() if session.auth_data else None,
        }
        content = envelope.original_content or b""
        stem.with_suffix(".json.tmp").write_text(json.dumps(meta), encoding="utf-8")
        stem.with_suffix(".eml.tmp").write_bytes(content)
        stem.with_suffix(".json.tmp").rename(stem.with_suffix(".json"))
        stem.with_suffix(".eml.tmp").rename(stem.with_suffix(".eml"))
        return "250 2.0.0 Message accepted"


class Authenticator:
    """Accept exactly one login and password; remember the mechanism used."""

    def __init__(self, login: str, password: str) -> None:
        self._login = login.encode()
        self._password = password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == self._login
            and data.password == self._password
        )
        if ok:
            session.auth_mechanism = mechanism  # type: ignore[attr-defined]
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client goes away; never a byte back
    writer.close()


async def serve(args: argparse.Namespace) -> None:
    """Listen until killed."""
    loop = asyncio.get_running_loop()
    if args.behaviour == "silent":
        server = await asyncio.start_server(_silent, "127.0.0.1", args.port)
    else:
        context = None
        if args.cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(args.cert, args.key)
        authenticator = None
        if args.auth:
            login, _, password = args.auth.partition(":")
            authenticator = Authenticator(login, password)
        handler = Handler(Path(args.dir), args.behaviour)

        def factory() -> SMTP:
            return SMTP(
                handler,
                hostname="smtp.test",
                tls_context=context,
                require_starttls=context is not None,
                authenticator=authenticator,
                auth_required=authenticator is not None,
                auth_require_tls=context is not None,
            )

        server = await loop.create_server(factory, "127.0.0.1", args.port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth")
    parser.add_argument(
        "--behaviour", choices=("accept", "refuse", "hang", "silent"), default="accept"
    )
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
