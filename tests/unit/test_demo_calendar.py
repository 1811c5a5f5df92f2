"""The demo's provisional trading calendar for a year chinese-calendar does not know yet: written
in the operator override format, read back by the gateway's calendar, never over an operator's."""
from __future__ import annotations

from datetime import date

from gateway.adapters.trading_calendar import ShanghaiCalendar
from gateway.demo.fund import provisional_calendar


def test_an_unknown_year_gets_weekends_and_fixed_holidays_closed(tmp_path):
    override = tmp_path / "trading_calendar.txt"
    provisional_calendar(override, date(2099, 6, 1), out=lambda line: None)
    calendar = ShanghaiCalendar(override)
    assert calendar.is_trading_day(date(2100, 1, 4))  # a Monday
    assert not calendar.is_trading_day(date(2100, 1, 2))  # a Saturday
    assert not calendar.is_trading_day(date(2100, 1, 1))  # New Year's Day
    assert not calendar.is_trading_day(date(2100, 10, 1))  # National Day
    assert "PROVISIONAL" in override.read_text()


def test_an_operators_file_is_left_alone(tmp_path):
    override = tmp_path / "trading_calendar.txt"
    override.write_text("year 2100\n2100-01-04 closed\n")
    provisional_calendar(override, date(2099, 6, 1), out=lambda line: None)
    assert override.read_text() == "year 2100\n2100-01-04 closed\n"
