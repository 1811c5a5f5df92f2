"""What the dashboard's fund page shows (the money-market fund, docs/fund.md), read in SQL and
returned as frozen dataclasses.

Every function takes a `scope`: the merchant whose funds may be seen, or None for an operator
(every merchant). A fund of another merchant is reported missing, as in the API.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import and_, func, or_, select

from gateway.adapters.db.fund_models import Fund, FundAccrualRun, FundHolding, FundIncomeFigure, FundRedemption
from gateway.adapters.db.models import Merchant
from gateway.domain import fund as rules
from gateway.domain.clock import as_utc, beijing_date
from gateway.domain.errors import NotFound
from gateway.services.dashboard import as_date, scoped
from gateway.services.ports import StoragePorts

CHART_DAYS = 30
WAITING = ("pending", "paying")  # a normal redemption not paid yet: before its pay day, or payout in flight


@dataclass(frozen=True)
class FundRow:
    id: str
    code: str
    name: str
    merchant_id: str
    merchant_name: str
    carryover: str
    units_outstanding: int  # hundredths of a unit
    value: int  # fen the units are worth (stable NAV of CNY 1.00)
    holders: int  # holdings with units > 0
    latest_accrued: date | None  # the latest natural day whose income was credited
    latest_figure_day: date | None  # the latest day of the manager's feed
    seven_day_annualized: Decimal | None  # percent, ending on latest_figure_day; None until 7 days exist
    waiting_normal_redemptions: int
    created_at: datetime


@dataclass(frozen=True)
class IncomeDay:
    day: date
    income_per_10k: Decimal | None  # None: no figure for that day (yet)


@dataclass(frozen=True)
class FundChart:
    fund: FundRow
    days: list[IncomeDay]  # the last CHART_DAYS Beijing days before today, oldest first


@dataclass(frozen=True)
class FundPage:
    rows: list[FundRow]  # newest fund first
    chart: FundChart | None  # the picked fund's (the newest when none is picked); None without funds


def fund_page(gw: StoragePorts, scope: str | None, picked: str | None = None) -> FundPage:
    """Every fund in scope with its figures, and the daily income chart of `picked` (a fund id;
    NotFound when it is not a fund in scope) or of the newest fund."""
    today = beijing_date(gw.clock())
    last = today - timedelta(days=1)  # a day's figure arrives after it ends
    first = last - timedelta(days=CHART_DAYS - 1)
    with gw.db.unit_of_work() as session:
        funds = session.execute(
            scoped(select(Fund, Merchant.name).join(Merchant, Merchant.id == Fund.merchant_id), Fund, scope).order_by(Fund.seq.desc())
        ).all()
        if picked and picked not in {fund.id for fund, _ in funds}:
            raise NotFound("fund", picked)
        if not funds:
            return FundPage([], None)
        ids = [fund.id for fund, _ in funds]
        holders = dict(session.execute(
            select(FundHolding.fund_id, func.count()).where(FundHolding.fund_id.in_(ids), FundHolding.units > 0).group_by(FundHolding.fund_id)
        ).all())
        accrued = dict(session.execute(
            select(FundAccrualRun.fund_id, func.max(FundAccrualRun.day))
            .where(FundAccrualRun.fund_id.in_(ids), FundAccrualRun.status == "done").group_by(FundAccrualRun.fund_id)
        ).all())
        waiting = dict(session.execute(
            select(FundRedemption.fund_id, func.count())
            .where(FundRedemption.fund_id.in_(ids), FundRedemption.speed == rules.Speed.NORMAL.value, FundRedemption.status.in_(WAITING))
            .group_by(FundRedemption.fund_id)
        ).all())
        latest = dict(session.execute(
            select(FundIncomeFigure.fund_id, func.max(FundIncomeFigure.day)).where(FundIncomeFigure.fund_id.in_(ids)).group_by(FundIncomeFigure.fund_id)
        ).all())
        # The figures each fund needs: its latest week (the 7-day yield) and the chart's days.
        chart_id = picked or ids[0]
        wanted = [and_(FundIncomeFigure.fund_id == fund_id, FundIncomeFigure.day >= day - timedelta(days=6), FundIncomeFigure.day <= day)
                  for fund_id, day in latest.items()]
        wanted.append(and_(FundIncomeFigure.fund_id == chart_id, FundIncomeFigure.day >= first, FundIncomeFigure.day <= last))
        figures: dict[str, dict[date, Decimal]] = {}
        for fund_id, day, figure in session.execute(
                select(FundIncomeFigure.fund_id, FundIncomeFigure.day, FundIncomeFigure.income_per_10k).where(or_(*wanted))).all():
            figures.setdefault(fund_id, {})[as_date(day)] = Decimal(figure)
    rows = []
    for fund, merchant_name in funds:
        latest_day = as_date(latest[fund.id]) if latest.get(fund.id) is not None else None
        rows.append(FundRow(
            fund.id, fund.code, fund.name, fund.merchant_id, merchant_name, fund.carryover, fund.units_outstanding,
            rules.units_value(fund.units_outstanding), holders.get(fund.id, 0),
            as_date(accrued[fund.id]) if accrued.get(fund.id) is not None else None, latest_day,
            rules.seven_day_annualized_ending(figures.get(fund.id, {}), latest_day, rules.Carryover(fund.carryover)) if latest_day else None,
            waiting.get(fund.id, 0), as_utc(fund.created_at),
        ))
    chart_row = next(row for row in rows if row.id == chart_id)
    known = figures.get(chart_id, {})
    days = [IncomeDay(day, _quantized(known.get(day))) for day in (first + timedelta(days=n) for n in range(CHART_DAYS))]
    return FundPage(rows, FundChart(chart_row, days))


def _quantized(figure: Decimal | None) -> Decimal | None:
    return None if figure is None else figure.quantize(rules.INCOME_QUANTUM)
