"""PostgreSQL connection settings, read the same way by core and the migrations job."""

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from .env import EnvReader

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # fullmatch, not `^…$`


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the database is and which schema holds Authara's tables."""

    host: str
    port: int
    database: str
    username: str
    password: str = ""
    schema: str = "authara"

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
    """Read POSTGRESQL_HOST/_PORT/_DATABASE/_USERNAME/_PASSWORD/_SCHEMA."""
    schema = reader.string("POSTGRESQL_SCHEMA")
    if schema and not _IDENTIFIER.fullmatch(schema):
        reader.fail("POSTGRESQL_SCHEMA", "must be a plain SQL identifier (letters, digits, _)")
    return DatabaseSettings(
        host=reader.string("POSTGRESQL_HOST"),
        port=reader.integer("POSTGRESQL_PORT", minimum=1, maximum=65535),
        database=reader.string("POSTGRESQL_DATABASE"),
        username=reader.string("POSTGRESQL_USERNAME"),
        password=reader.string("POSTGRESQL_PASSWORD", allow_empty=True),
        schema=schema,
    )
