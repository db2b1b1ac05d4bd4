"""One short-lived psycopg connection per run, with connect failures made readable."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from authara_contract.database import DatabaseSettings

from .errors import DatabaseUnreachable

CONNECT_TIMEOUT_S: Final = 10
APPLICATION_NAME: Final = "authara-migrate"
# Session-level advisory lock held for a whole run, so that concurrent runs (replicas of the
# job, a retry racing a slow first attempt) apply each migration once. The value is
# arbitrary but fixed for ever: "AUTHMIGR" in ASCII.
ADVISORY_LOCK_KEY: Final = 0x4155_5448_4D49_4752
_LIBPQ_PREFIX: Final = re.compile(
    r"^(?:connection (?:failed|is bad): )?connection to server .*? failed: (?:FATAL:\s+)?"
)


@contextmanager
def connect(settings: DatabaseSettings) -> Iterator[Connection]:
    """Open one connection (no pool); raise DatabaseUnreachable if PostgreSQL cannot be reached."""
    engine = create_engine(
        settings.url("postgresql+psycopg"),
        poolclass=NullPool,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": APPLICATION_NAME,
            **settings.libpq_ssl_args(),
        },
    )
    try:
        try:
            conn = engine.connect()
        except DBAPIError as exc:
            where = f"{settings.host}:{settings.port}"
            raise DatabaseUnreachable(
                f"cannot reach PostgreSQL at {where}: {describe_error(exc)}"
            ) from exc
        with conn:
            yield conn
    finally:
        engine.dispose()


def describe_error(exc: SQLAlchemyError) -> str:
    """Reduce a driver error to its first line, without libpq's framing and hints."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0].strip() if text else type(exc).__name__
    reason = _LIBPQ_PREFIX.sub("", first)
    if reason[:1].isupper() and reason[1:2].islower():
        reason = reason[0].lower() + reason[1:]
    return reason
