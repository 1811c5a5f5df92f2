"""Every table the migrations create has a place on Citus: sharded by one of its own columns, or
a reference table (gateway/adapters/db/distribution.py, docs/scaling.md)."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from gateway.adapters.db.distribution import DISTRIBUTION, REFERENCE
from gateway.adapters.db.schema import upgrade


@pytest.fixture(scope="module")
def columns_by_table(tmp_path_factory) -> dict[str, set[str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('schema') / 'schema.db'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        return {table: {column["name"] for column in inspector.get_columns(table)}
                for table in inspector.get_table_names() if table != "alembic_version"}
    finally:
        engine.dispose()


def test_every_table_is_distributed_or_a_reference_table(columns_by_table):
    assert set(columns_by_table) - set(DISTRIBUTION) == set(), "tables with no place on Citus: add them to distribution.py"
    assert set(DISTRIBUTION) - set(columns_by_table) == set(), "distribution.py names tables the schema does not have"


def test_each_table_is_sharded_by_a_column_it_has(columns_by_table):
    for table, column in DISTRIBUTION.items():
        if column != REFERENCE:
            assert column in columns_by_table[table], f"{table} has no column {column}"
