"""Apply and inspect migrations programmatically: no alembic.ini, works from a wheel."""

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from authara_contract.database import DatabaseSettings

from .connection import connect, describe_error
from .errors import MigrationError

SCRIPT_LOCATION: Final = Path(__file__).resolve().parent / "alembic"
SETTINGS_ATTRIBUTE: Final = "authara_database_settings"
VERSION_TABLE: Final = "alembic_version"


def alembic_config(settings: DatabaseSettings | None = None) -> Config:
    """Build the alembic configuration; env.py connects with `settings`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if settings is not None:
        config.attributes[SETTINGS_ATTRIBUTE] = settings
    return config


def head_revision() -> str:
    """Return the newest revision this release ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError("no migrations found in " + str(SCRIPT_LOCATION))
    return head


def known_revisions() -> frozenset[str]:
    """Return every revision this release ships."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def upgrade(settings: DatabaseSettings) -> None:
    """Migrate the database to head; concurrent calls wait for each other."""
    try:
        command.upgrade(alembic_config(settings), "head")
    except CommandError as exc:
        raise MigrationError(f"cannot upgrade: {_first_line(str(exc))}") from exc
    except SQLAlchemyError as exc:
        raise MigrationError(f"migration failed: {describe_error(exc)}") from exc


def current_revision(settings: DatabaseSettings) -> str | None:
    """Return the database's revision, or None if it was never migrated."""
    try:
        with connect(settings) as conn:
            context = MigrationContext.configure(
                conn,
                opts={"version_table": VERSION_TABLE, "version_table_schema": settings.schema},
            )
            heads = context.get_current_heads()
    except SQLAlchemyError as exc:
        raise MigrationError(f"cannot read the revision: {describe_error(exc)}") from exc
    return ",".join(sorted(heads)) or None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "alembic failed"
