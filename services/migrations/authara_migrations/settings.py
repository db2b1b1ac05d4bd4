"""Environment → settings for the migrations job."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from authara_contract.database import DatabaseSettings, read_database_settings
from authara_contract.env import EnvReader, Service
from authara_runtime.logs import LOG_LEVELS

DEFAULT_LOG_LEVEL: Final = "info"


@dataclass(frozen=True, slots=True)
class MigrationSettings:
    """Everything the migrations job reads from its environment."""

    database: DatabaseSettings
    log_level: str


def load_settings(environ: Mapping[str, str]) -> MigrationSettings:
    """Read and validate the environment; raise SettingsError naming every bad variable."""
    reader = EnvReader(environ, Service.MIGRATIONS)
    database = read_database_settings(reader)
    # The table leaves LOG_LEVEL's default to each service; a one-shot job has no dev mode.
    if reader.optional("LOG_LEVEL") is None:
        log_level = DEFAULT_LOG_LEVEL
    else:
        log_level = reader.choice("LOG_LEVEL", tuple(LOG_LEVELS))
    reader.finish()
    return MigrationSettings(database=database, log_level=log_level)
