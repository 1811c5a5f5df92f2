"""Finding a merchant's own object by id: the one rule every service follows."""
from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.errors import NotFound

Row = TypeVar("Row")


def owned(session: Session, model: type[Row], merchant_id: str, object_id: str, what: str, *,
          param: str | None = None, lock: bool = False) -> Row:
    """The merchant's `model` row with this id, optionally locked. Another merchant's object is
    reported missing, never forbidden, so ids do not leak across merchants."""
    query = select(model).where(model.id == object_id, model.merchant_id == merchant_id)
    found = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if found is None:
        raise NotFound(what, object_id, param)
    return found
