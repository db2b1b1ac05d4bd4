"""POSTGRESQL_SSLMODE / POSTGRESQL_SSLROOTCERT against a real PostgreSQL with ssl=on.

The server is this module's own, run from the system's PostgreSQL 15 binaries (the wheel's
build has no SSL) with a certificate for 127.0.0.1 signed by a CA generated here. A second,
unrelated CA plays the wrong one. Core (in process and as `authara-core`) and the migrations
job (the runner and `authara-migrate`) connect with the same settings.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from authara_contract.database import DatabaseSettings, SslMode
from authara_core.app import create_app
from authara_core.platform.db import Database
from authara_core.platform.errors import DatabaseUnavailable
from authara_core.settings import load_settings
from authara_devstack import pg_home
from authara_devstack.embedded_pg import EmbeddedPostgres, free_port
from authara_migrations import runner
from authara_migrations.errors import MigrationError
from tests.coresupport import core_env, run_core
from tests.dbutil import make_database, random_database_name

SYSTEM_POSTGRES: Final = Path("/usr/lib/postgresql/15")
MIGRATE: Final = Path(sys.executable).parent / "authara-migrate"
SSL_QUERY: Final = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@dataclass(frozen=True)
class Pki:
    """The CA that signed the server's certificate, and one that did not."""

    ca: Path
    wrong_ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        # Valid for 127.0.0.1 only: "localhost" passes verify-ca but not verify-full.
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _write_server_files(cluster: Path, ca_key: ec.EllipticCurvePrivateKey) -> None:
    """Write server.crt and server.key into the cluster, owned by the server's user."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _certificate("authara-test-db", key, "authara test CA", ca_key, ca=False)
    (cluster / "server.crt").write_bytes(_pem(certificate))
    key_path = cluster / "server.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)  # PostgreSQL refuses a key others can read
    user = pg_home.server_user()
    if user is not None:
        for path in (cluster / "server.crt", key_path):
            os.chown(path, user.pw_uid, user.pw_gid)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, ec.EllipticCurvePrivateKey]:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    wrong_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "ca.pem").write_bytes(
        _pem(_certificate("authara test CA", ca_key, "authara test CA", ca_key, ca=True))
    )
    (folder / "wrong-ca.pem").write_bytes(
        _pem(_certificate("some other CA", wrong_key, "some other CA", wrong_key, ca=True))
    )
    return Pki(ca=folder / "ca.pem", wrong_ca=folder / "wrong-ca.pem"), ca_key


@pytest.fixture(scope="module")
def tls_pg(
    tmp_path_factory: pytest.TempPathFactory, pki: tuple[Pki, ec.EllipticCurvePrivateKey]
) -> Iterator[EmbeddedPostgres]:
    """Run a PostgreSQL server with ssl=on (non-TLS connections are still accepted)."""
    if not (SYSTEM_POSTGRES / "bin" / "postgres").is_file():
        pytest.fail(f"the TLS tests need PostgreSQL's server binaries in {SYSTEM_POSTGRES}/bin")
    server = EmbeddedPostgres(
        tmp_path_factory.mktemp("tlspg"), free_port(), durable=True, binaries=SYSTEM_POSTGRES
    )
    server.start()  # creates the cluster, where the certificate files must live
    server.stop()
    _write_server_files(server.pgdata.resolve(), pki[1])
    server.settings = {"ssl": "on", "ssl_cert_file": "server.crt", "ssl_key_file": "server.key"}
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.discard()


@pytest.fixture(scope="module")
def tls_db(
    tls_pg: EmbeddedPostgres, pki: tuple[Pki, ec.EllipticCurvePrivateKey]
) -> DatabaseSettings:
    """A database on the TLS server, migrated over verify-full."""
    settings = replace(
        make_database(tls_pg.url(), random_database_name()),
        sslmode=SslMode.VERIFY_FULL,
        sslrootcert=pki[0].ca,
    )
    runner.upgrade(settings)
    return settings


def _env(
    db: DatabaseSettings, mode: str, rootcert: Path | None = None, **extra: str
) -> dict[str, str]:
    env = core_env(db, POSTGRESQL_SSLMODE=mode, **extra)
    if rootcert is not None:
        env["POSTGRESQL_SSLROOTCERT"] = str(rootcert)
    return env


async def _uses_tls(settings: DatabaseSettings) -> bool:
    database = Database(settings, pool_size=1)
    await database.open()
    try:
        record = await database.single.fetchrow(SSL_QUERY)
    finally:
        await database.close()
    assert record is not None
    return bool(record["ssl"])


@pytest.mark.parametrize(
    ("mode", "host", "trusted"),
    [
        pytest.param(SslMode.REQUIRE, "127.0.0.1", False, id="require"),
        pytest.param(SslMode.VERIFY_CA, "localhost", True, id="verify-ca-any-name"),
        pytest.param(SslMode.VERIFY_FULL, "127.0.0.1", True, id="verify-full"),
    ],
)
async def test_core_connects_over_tls(
    tls_db: DatabaseSettings,
    pki: tuple[Pki, ec.EllipticCurvePrivateKey],
    mode: SslMode,
    host: str,
    trusted: bool,
) -> None:
    settings = replace(tls_db, host=host, sslmode=mode, sslrootcert=pki[0].ca if trusted else None)
    assert await _uses_tls(settings)


async def test_sslmode_disable_connects_in_plain_text(tls_db: DatabaseSettings) -> None:
    assert not await _uses_tls(replace(tls_db, sslmode=SslMode.DISABLE, sslrootcert=None))


@pytest.mark.parametrize(
    ("host", "rootcert", "reason"),
    [
        pytest.param(
            "127.0.0.1", "wrong_ca", "unable to get local issuer certificate", id="wrong-ca"
        ),
        pytest.param("localhost", "ca", "Hostname mismatch", id="wrong-name"),
    ],
)
async def test_core_refuses_an_untrusted_server(
    tls_db: DatabaseSettings,
    pki: tuple[Pki, ec.EllipticCurvePrivateKey],
    host: str,
    rootcert: str,
    reason: str,
) -> None:
    settings = replace(tls_db, host=host, sslrootcert=getattr(pki[0], rootcert))
    with pytest.raises(DatabaseUnavailable) as caught:
        await _uses_tls(settings)
    assert str(caught.value).startswith(
        f"TLS to PostgreSQL at {host}:{tls_db.port} failed (POSTGRESQL_SSLMODE=verify-full): "
        f"certificate verify failed: {reason}"
    )


@pytest.fixture
async def tls_core(
    tls_db: DatabaseSettings, pki: tuple[Pki, ec.EllipticCurvePrivateKey]
) -> AsyncIterator[TestClient[object, object]]:
    settings = load_settings(_env(tls_db, "verify-full", pki[0].ca))
    app = create_app(settings, periodic_cleanup=False, send_mail=False)
    async with TestClient(TestServer(app)) as client:
        yield client  # type: ignore[misc]


async def test_core_serves_over_verified_tls(tls_core: TestClient[object, object]) -> None:
    response = await tls_core.get("/auth/ready")
    assert response.status == 200
    response = await tls_core.get("/auth/api/v1/csrf")
    token = (await response.json())["csrf_token"]
    response = await tls_core.post(
        "/auth/api/v1/signup/direct",
        json={"email": "tls@example.com", "password": "correct horse battery"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status in (200, 201), await response.text()


def test_authara_core_refuses_a_wrong_ca_in_one_line(
    tls_db: DatabaseSettings, pki: tuple[Pki, ec.EllipticCurvePrivateKey]
) -> None:
    env = _env(tls_db, "verify-full", pki[0].wrong_ca, AUTHARA_BIND=f"127.0.0.1:{free_port()}")
    result = run_core(env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"authara-core: cannot start: TLS to PostgreSQL at 127.0.0.1:{tls_db.port} failed "
        "(POSTGRESQL_SSLMODE=verify-full): certificate verify failed: "
        "unable to get local issuer certificate"
    ]


def test_migrations_runner_refuses_a_wrong_ca(
    tls_db: DatabaseSettings, pki: tuple[Pki, ec.EllipticCurvePrivateKey]
) -> None:
    with pytest.raises(MigrationError) as caught:
        runner.current_revision(replace(tls_db, sslrootcert=pki[0].wrong_ca))
    assert "certificate verify failed" in str(caught.value)


def _migrate(
    db: DatabaseSettings, mode: str, rootcert: Path | None
) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("POSTGRESQL_") and key != "LOG_LEVEL"
    }
    env |= {
        "POSTGRESQL_HOST": db.host,
        "POSTGRESQL_PORT": str(db.port),
        "POSTGRESQL_DATABASE": db.database,
        "POSTGRESQL_USERNAME": db.username,
        "POSTGRESQL_PASSWORD": db.password,
        "POSTGRESQL_SCHEMA": db.schema,
        "POSTGRESQL_SSLMODE": mode,
    }
    if rootcert is not None:
        env["POSTGRESQL_SSLROOTCERT"] = str(rootcert)
    return subprocess.run(
        [str(MIGRATE), "status"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_authara_migrate_connects_over_tls(
    tls_db: DatabaseSettings, pki: tuple[Pki, ec.EllipticCurvePrivateKey], mode: str
) -> None:
    result = _migrate(tls_db, mode, pki[0].ca if mode == "verify-full" else None)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_authara_migrate_refuses_a_wrong_ca_in_one_line(
    tls_db: DatabaseSettings, pki: tuple[Pki, ec.EllipticCurvePrivateKey]
) -> None:
    result = _migrate(tls_db, "verify-full", pki[0].wrong_ca)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"authara-migrate: cannot reach PostgreSQL at 127.0.0.1:{tls_db.port}: "
    )
    assert "certificate verify failed" in lines[0]


async def test_core_verifies_with_the_system_trust_store_without_a_root_cert(
    tls_db: DatabaseSettings,
    pki: tuple[Pki, ec.EllipticCurvePrivateKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OpenSSL's default store, pointed at the test CA the standard way.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki[0].ca))
    assert await _uses_tls(replace(tls_db, sslrootcert=None))


def test_authara_migrate_verifies_with_the_system_trust_store_without_a_root_cert(
    tls_db: DatabaseSettings,
    pki: tuple[Pki, ec.EllipticCurvePrivateKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki[0].ca))  # _migrate passes os.environ on
    result = _migrate(tls_db, "verify-full", None)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_authara_migrate_refuses_a_host_name_the_certificate_does_not_cover(
    tls_db: DatabaseSettings, pki: tuple[Pki, ec.EllipticCurvePrivateKey]
) -> None:
    result = _migrate(replace(tls_db, host="localhost"), "verify-full", pki[0].ca)
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"authara-migrate: cannot reach PostgreSQL at localhost:{tls_db.port}: server certificate"
        ' for "127.0.0.1" (and 1 other name) does not match host name "localhost"'
    ]


@pytest.fixture(scope="module")
def plain_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseSettings]:
    """A database on a server without TLS (the wheel's build has none)."""
    with EmbeddedPostgres(tmp_path_factory.mktemp("plainpg"), free_port(), durable=False) as pg:
        yield make_database(pg.url(), random_database_name())


def test_require_against_a_server_without_tls_is_one_line_each(plain_db: DatabaseSettings) -> None:
    where = f"127.0.0.1:{plain_db.port}"
    core = run_core(
        _env(plain_db, "require", AUTHARA_BIND=f"127.0.0.1:{free_port()}"),
    )
    assert core.returncode == 1
    assert core.stderr.splitlines() == [
        f'authara-core: cannot start: PostgreSQL server at "{where}" rejected SSL upgrade'
    ]
    migrate = _migrate(plain_db, "require", None)
    assert migrate.returncode == 3
    assert migrate.stderr.splitlines() == [
        f"authara-migrate: cannot reach PostgreSQL at {where}: server does not support SSL,"
        " but SSL was required"
    ]
