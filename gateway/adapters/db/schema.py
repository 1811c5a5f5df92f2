"""Apply the Alembic migrations that ship inside the package."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from gateway.adapters.db.engine import normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def migrated(engine: Engine) -> bool:
    """True once `paygate db upgrade` has run on this database (Alembic recorded a revision)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() is not None
