"""Time helpers. All times are UTC; the clock itself is injected (services take `gw.clock`)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones in its zone."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# China has one time zone and no daylight saving: business days (due dates, bank days,
# settlement days) are calendar days at UTC+8.
BEIJING = timezone(timedelta(hours=8))


def beijing_date(moment: datetime) -> date:
    return as_utc(moment).astimezone(BEIJING).date()
