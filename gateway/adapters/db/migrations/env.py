"""Alembic's environment: migrates the database at sqlalchemy.url (see schema.py `upgrade`), in
batch mode on SQLite, which cannot ALTER most things."""
from alembic import context

from gateway.adapters.db.engine import make_engine
from gateway.adapters.db.models import Base

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
