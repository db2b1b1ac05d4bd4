"""Helpers for the mail tests: a real SMTP server process, a generated CA and certificate."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ipaddress
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authara_devstack.embedded_pg import free_port

READY_TIMEOUT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Received:
    """One message the server accepted: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    tls: bool
    auth: str | None
    login: str | None
    message: EmailMessage


class SmtpServer:
    """A running `python -m tests.smtpserver` process and the folder it writes to."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, folder: Path) -> None:
        self.process = process
        self.port = port
        self.folder = folder

    def received(self) -> list[Received]:
        """Return every message accepted so far, in arrival order."""
        found = []
        for path in sorted(self.folder.glob("*.eml")):
            meta: dict[str, Any] = json.loads(path.with_suffix(".json").read_text("utf-8"))
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(Received(message=message, **meta))
        return found

    async def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Received]:
        """Wait until at least `count` messages arrived; return them all."""
        async with asyncio.timeout(timeout_s):
            while True:
                received = self.received()
                if len(received) >= count:
                    return received
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def smtp_server(
    folder: Path, *args: str, port: int | None = None
) -> AsyncIterator[SmtpServer]:
    """Run the test SMTP server with extra options for the block; kill it afterwards."""
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a test's tmp folder)
    port = port or free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.smtpserver",
        "--port",
        str(port),
        "--dir",
        str(folder),
        *args,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(READY_TIMEOUT_S):
            line = await process.stdout.readline()
        assert line.strip() == b"ready", line
        yield SmtpServer(process, port, folder)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@dataclass(frozen=True, slots=True)
class Certificates:
    """A CA file core may trust and the server's certificate and key signed by it."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(folder: Path) -> Certificates:
    """Write a throwaway CA and a certificate for 127.0.0.1 and localhost signed by it."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Authara test CA"))
        .issuer_name(_name("Authara test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    certificates = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    certificates.ca_file.write_bytes(ca_cert.public_bytes(pem))
    certificates.cert_file.write_bytes(cert.public_bytes(pem))
    certificates.key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificates


def parts(message: EmailMessage) -> dict[str, str]:
    """Return the text of each part of a multipart/alternative message by content type."""
    assert message.get_content_type() == "multipart/alternative"
    found = {}
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        found[part.get_content_type()] = part.get_content()
    return found
