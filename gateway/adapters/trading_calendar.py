"""The Shanghai Stock Exchange's trading days, from `chinese-calendar` plus an operator override file.

The exchange trades Monday to Friday except on statutory holidays; unlike offices it stays shut
on the make-up working Saturdays and Sundays around Spring Festival and National Day. So a
trading day is a weekday that `chinese_calendar` does not list as a holiday. For 2026 this gives
exactly the sessions of `exchange_calendars`' XSHG calendar (checked day by day when this was
written); chinese-calendar was chosen as it is pure Python (XSHG pulls in pandas and numpy).
Neither library knew 2027 at the time (chinese-calendar 1.11 covers 2004-2026, XSHG ends
2026-12-31): the State Council publishes each year's holidays late in the year before.

For a year the library does not know, the operator writes an override file (`fund_calendar_file`,
default var/trading_calendar.txt), one line per date, `#` comments allowed:

    year 2027               # the year is fully described here: weekdays trade unless closed below
    2027-01-01 closed
    2027-02-08 closed
    2026-12-31 closed       # an override also wins over the library (an unplanned closure)

A date in a year that neither the library nor the file knows is refused (TradingCalendarUnknown):
guessing would confirm orders on a day the exchange is shut.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import chinese_calendar

from gateway.domain.errors import DomainError


class TradingCalendarUnknown(DomainError):
    status = 503
    type = "api_error"


class CalendarFileInvalid(ValueError):
    pass


class ShanghaiCalendar:
    def __init__(self, override_file: Path | None = None) -> None:
        self.override_file = override_file
        self._overrides: dict[date, bool] = {}
        self._years: set[int] = set()
        self._loaded_mtime: float | None = None

    def is_trading_day(self, day: date) -> bool:
        self._reload()
        if day in self._overrides:
            return self._overrides[day]
        if day.year in self._years:
            return day.weekday() < 5
        try:
            return day.weekday() < 5 and not chinese_calendar.is_holiday(day)
        except NotImplementedError:
            raise TradingCalendarUnknown(
                "trading_calendar_unknown",
                f"The trading calendar for {day.year} is not known yet: add 'year {day.year}' and its closed days to {self.override_file}.",
            ) from None

    def _reload(self) -> None:
        """Read the override file again when it changed (operators edit it while workers run)."""
        if self.override_file is None or not self.override_file.exists():
            self._overrides, self._years, self._loaded_mtime = {}, set(), None
            return
        mtime = self.override_file.stat().st_mtime
        if mtime == self._loaded_mtime:
            return
        overrides, years = parse_overrides(self.override_file.read_text())
        self._overrides, self._years, self._loaded_mtime = overrides, years, mtime


def parse_overrides(text: str) -> tuple[dict[date, bool], set[int]]:
    """(date -> trades?, years fully described) from the override file's text."""
    overrides: dict[date, bool] = {}
    years: set[int] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            if parts[0] == "year" and len(parts) == 2:
                years.add(int(parts[1]))
            elif len(parts) == 2 and parts[1] in ("open", "closed"):
                overrides[date.fromisoformat(parts[0])] = parts[1] == "open"
            else:
                raise ValueError(line)
        except ValueError:
            raise CalendarFileInvalid(f"line {number}: expected 'year YYYY' or 'YYYY-MM-DD open|closed', got {raw!r}") from None
    return overrides, years
