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


class ClockCannotGoBack(ValueError):
    """Time never runs back for money: a due date passed stays passed."""


def offset_to_reach(target: datetime, base_now: datetime, current_offset: timedelta) -> timedelta:
    """The offset that makes `base_now + offset` read `target`, refusing to move time back.

    The sandbox clock reads base time plus an offset, so time keeps flowing after a jump:

    >>> base = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
    >>> offset_to_reach(datetime(2026, 12, 31, 2, 0, tzinfo=timezone.utc), base, timedelta(0))
    datetime.timedelta(days=31)

    A second jump is measured from the time the clock shows now (base plus the current offset):

    >>> offset_to_reach(datetime(2027, 1, 1, 2, 0, tzinfo=timezone.utc), base, timedelta(days=31))
    datetime.timedelta(days=32)

    Moving back is refused:

    >>> offset_to_reach(datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc), base, timedelta(days=31))
    Traceback (most recent call last):
    ...
    gateway.domain.clock.ClockCannotGoBack: 2026-12-01T02:00:00+00:00 is before the clock's time 2026-12-31T02:00:00+00:00
    """
    shown = base_now + current_offset
    if as_utc(target) < shown:
        raise ClockCannotGoBack(f"{as_utc(target).isoformat()} is before the clock's time {shown.isoformat()}")
    return as_utc(target) - base_now
