"""INSERT ... ON CONFLICT DO NOTHING on both PostgreSQL and SQLite."""
from __future__ import annotations

import functools

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy import Table
from sqlalchemy.orm import Session


def insert_if_absent(session: Session, model, conflict_columns: list[str], **values) -> bool:
    """Insert a row unless one with the same conflict columns exists; True if this call inserted it."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # RETURNING yields a row only when one was inserted (rowcount is not reliable here).
    statement = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns)
        .returning(*(getattr(model, column) for column in conflict_columns))
    )
    return session.execute(statement).first() is not None


@functools.cache
def insert_if_absent_statement(table: Table, conflict_columns: tuple[str, ...], dialect: str):
    """`insert_if_absent`'s statement built once, for a hot path: executed with the row's values as
    parameters, it returns a row only when it inserted one."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns)).returning(*(table.c[c] for c in conflict_columns))
