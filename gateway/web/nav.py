"""The dashboard's navigation: one list, in order. Pages that come with other issues (the fund,
credit score bands) add their entry here, e.g.

    from gateway.web.nav import NavEntry, register
    register(NavEntry("fund.overview", "Fund"))

after registering their blueprint (see gateway/web/__init__.py); nothing else needs to change.
"""
from __future__ import annotations

from dataclasses import dataclass

from gateway.services.dashboard_users import Role, User


@dataclass(frozen=True)
class NavEntry:
    endpoint: str  # Flask endpoint of the page
    label: str
    roles: frozenset[Role] = frozenset(Role)  # who sees it


NAV_ENTRIES: list[NavEntry] = [
    NavEntry("dashboard.home", "Today"),
    NavEntry("dashboard.payments", "Payments"),
    NavEntry("dashboard.plans", "Installment plans"),
    NavEntry("dashboard.devices", "Devices"),
]


def register(entry: NavEntry) -> None:
    if all(existing.endpoint != entry.endpoint for existing in NAV_ENTRIES):
        NAV_ENTRIES.append(entry)


def nav_entries(user: User | None) -> list[NavEntry]:
    return [entry for entry in NAV_ENTRIES if user is not None and user.role in entry.roles]
