"""PostgreSQL connection settings, read the same way by core and the migrations job."""

import re
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final
from urllib.parse import quote

from .env import EnvReader

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # fullmatch, not `^…$`


class SslMode(StrEnum):
    """POSTGRESQL_SSLMODE: libpq's modes that either always or never use TLS."""

    DISABLE = "disable"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the database is and which schema holds Authara's tables."""

    host: str
    port: int
    database: str
    username: str
    password: str = ""
    schema: str = "authara"
    sslmode: SslMode = SslMode.DISABLE
    # PEM CA bundle for the verify modes; None trusts the system's store.
    sslrootcert: Path | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """Return the TLS context asyncpg connects with, None for sslmode=disable.

        Reads the CA file: call it when connecting, not at import or settings time.
        """
        if self.sslmode is SslMode.DISABLE:
            return None
        if self.sslmode is SslMode.REQUIRE:
            # libpq's `require`: encrypted, the server's certificate is not checked.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        cafile = str(self.sslrootcert) if self.sslrootcert is not None else None
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = self.sslmode is SslMode.VERIFY_FULL
        return context

    def libpq_ssl_args(self) -> dict[str, str]:
        """Return libpq's connection parameters for TLS (the migrations job's psycopg)."""
        args = {"sslmode": self.sslmode.value}
        if self.sslmode in (SslMode.VERIFY_CA, SslMode.VERIFY_FULL):
            args["sslrootcert"] = str(self.sslrootcert) if self.sslrootcert else "system"
        return args

    def url(self, driver: str = "postgresql") -> str:
        """Build a connection URL; a host starting with `/` is a Unix socket directory."""
        auth = quote(self.username, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        if self.host.startswith("/"):
            return (
                f"{driver}://{auth}@/{quote(self.database, safe='')}"
                f"?host={quote(self.host, safe='')}&port={self.port}"
            )
        return f"{driver}://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}"


def read_database_settings(reader: EnvReader) -> DatabaseSettings:
    """Read POSTGRESQL_HOST/_PORT/_DATABASE/_USERNAME/_PASSWORD/_SCHEMA/_SSLMODE/_SSLROOTCERT."""
    schema = reader.string("POSTGRESQL_SCHEMA")
    if schema and not _IDENTIFIER.fullmatch(schema):
        reader.fail("POSTGRESQL_SCHEMA", "must be a plain SQL identifier (letters, digits, _)")
    sslmode = SslMode(reader.choice("POSTGRESQL_SSLMODE", [mode.value for mode in SslMode]))
    rootcert = reader.optional("POSTGRESQL_SSLROOTCERT")
    sslrootcert = Path(rootcert) if rootcert else None
    if sslrootcert is not None:
        if sslmode not in (SslMode.VERIFY_CA, SslMode.VERIFY_FULL):
            reader.fail("POSTGRESQL_SSLROOTCERT", "is only used with verify-ca or verify-full")
        elif not sslrootcert.is_file():
            reader.fail("POSTGRESQL_SSLROOTCERT", f"is not a readable file: {rootcert}")
    return DatabaseSettings(
        host=reader.string("POSTGRESQL_HOST"),
        port=reader.integer("POSTGRESQL_PORT", minimum=1, maximum=65535),
        database=reader.string("POSTGRESQL_DATABASE"),
        username=reader.string("POSTGRESQL_USERNAME"),
        password=reader.string("POSTGRESQL_PASSWORD", allow_empty=True),
        schema=schema,
        sslmode=sslmode,
        sslrootcert=sslrootcert,
    )
