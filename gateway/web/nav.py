"""The dashboard's navigation: one list, in order. A page in a module of its own (the fund and
credit pages: gateway/web/dashboard_fund.py, dashboard_credit.py) adds its entry when imported:

    from gateway.web.nav import NavEntry, register
    register(NavEntry("dashboard.fund", "Fund"))

nothing else needs to change (docs/web.md, "Adding a page").
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
