"""What a customer sees of their fund money: holdings per fund, and a monthly statement."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.adapters.db.fund_models import Fund, FundHolderIncome, FundHolding, FundMovement, FundRedemption, FundSubscription
from gateway.domain import fund as rules
from gateway.domain.clock import beijing_date
from gateway.domain.errors import Conflict, InvalidRequest
from gateway.services.customers import owned_customer
from gateway.services.fund_orders import fast_used
from gateway.services.read_models import HoldingView, Statement, StatementLine
from gateway.services.ports import StoragePorts

PENDING_SUBSCRIPTION = ("processing", "paid")
PENDING_REDEMPTION = ("pending", "paying")


def holdings(gw: StoragePorts, merchant_id: str, customer_id: str) -> list[HoldingView]:
    today = beijing_date(gw.clock())
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id)
        funds = session.execute(select(Fund).where(Fund.merchant_id == merchant_id).order_by(Fund.seq)).scalars().all()
        views = []
        for fund in funds:
            holding = session.execute(select(FundHolding).where(FundHolding.fund_id == fund.id, FundHolding.customer_id == customer_id)).scalar_one_or_none()
            subscribing = _sum(session, FundSubscription, customer_id, fund.id, PENDING_SUBSCRIPTION)
            redeeming = _sum(session, FundRedemption, customer_id, fund.id, PENDING_REDEMPTION)
            if holding is None and not subscribing:
                continue
            units = holding.units if holding else 0
            yesterday = session.execute(select(FundHolderIncome.income).where(
                FundHolderIncome.holding_seq == holding.seq, FundHolderIncome.day == today - timedelta(days=1))).scalar_one_or_none() if holding else None
            allowance = rules.fast_available(fund.fast_redemption_daily_cap, fast_used(session, customer_id, fund.id, today))
            views.append(HoldingView(
                fund.id, fund.code, fund.name, units, units + (holding.accrued_income if holding else 0), subscribing, redeeming,
                yesterday or 0, holding.cumulative_income if holding else 0, min(allowance, units),
            ))
    return views


def _sum(session: Session, model, customer_id: str, fund_id: str, states: tuple[str, ...]) -> int:
    return int(session.execute(select(func.coalesce(func.sum(model.amount), 0)).where(
        model.customer_id == customer_id, model.fund_id == fund_id, model.status.in_(states))).scalar_one())


def statements(gw: StoragePorts, merchant_id: str, customer_id: str, month: str) -> list[Statement]:
    """One statement per fund the customer held in the month: opening balance, each subscription,
    redemption and day's income, and the closing balance (opening + the lines)."""
    first, last = rules.month_bounds(month)
    if first > beijing_date(gw.clock()):
        raise InvalidRequest("month_in_future", f"{month} has not begun.", "month")
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id)
        rows = session.execute(
            select(FundHolding, Fund).join(Fund, Fund.id == FundHolding.fund_id)
            .where(FundHolding.customer_id == customer_id, Fund.merchant_id == merchant_id).order_by(Fund.seq)
        ).all()
        return [_statement(session, holding, fund, month, first, last) for holding, fund in rows]


def _statement(session: Session, holding: FundHolding, fund: Fund, month: str, first: date, last: date) -> Statement:
    moves = session.execute(select(FundMovement.effective_date, FundMovement.kind, FundMovement.units, FundMovement.reference)
                            .where(FundMovement.holding_seq == holding.seq, FundMovement.effective_date >= first).order_by(FundMovement.id)).all()
    income = session.execute(select(FundHolderIncome.day, FundHolderIncome.income)
                             .where(FundHolderIncome.holding_seq == holding.seq, FundHolderIncome.day >= first).order_by(FundHolderIncome.day)).all()
    # The balance now, less everything after the month, is the closing; less the month, the opening.
    after = sum(units for day, _kind, units, _ref in moves if day > last) + sum(amount for day, amount in income if day > last)
    closing = holding.units + holding.accrued_income - after
    lines = [StatementLine(day, kind, units, reference) for day, kind, units, reference in moves if day <= last]
    lines += [StatementLine(day, "income", amount, None) for day, amount in income if day <= last]
    lines.sort(key=lambda line: (line.day, line.kind != "income"))
    opening = closing - sum(line.amount for line in lines)
    return Statement(
        fund.id, fund.code, fund.name, month, opening,
        subscriptions=sum(line.amount for line in lines if line.kind == "subscription"),
        redemptions=-sum(line.amount for line in lines if line.kind in ("redemption", "restored")),
        income=sum(line.amount for line in lines if line.kind == "income"),
        closing=closing, lines=lines,
    )


def refuse_erasure_with_units(session: Session, customer_id: str) -> None:
    """A customer holding units (or with money on its way in or out) cannot be erased: the fund
    must be redeemed first. Named, so the customer knows which."""
    held = session.execute(
        select(Fund.code, Fund.name).join(FundHolding, FundHolding.fund_id == Fund.id)
        .where(FundHolding.customer_id == customer_id, (FundHolding.units + FundHolding.accrued_income) != 0).limit(1)
    ).first()
    moving = session.execute(select(Fund.code, Fund.name).join(FundSubscription, FundSubscription.fund_id == Fund.id)
                             .where(FundSubscription.customer_id == customer_id, FundSubscription.status.in_(PENDING_SUBSCRIPTION)).limit(1)).first()
    moving = moving or session.execute(select(Fund.code, Fund.name).join(FundRedemption, FundRedemption.fund_id == Fund.id)
                                       .where(FundRedemption.customer_id == customer_id, FundRedemption.status.in_(PENDING_REDEMPTION)).limit(1)).first()
    found = held or moving
    if found:
        code, name = found
        raise Conflict("customer_has_fund_units", f"The customer still has money in fund {code} ({name}); redeem it (and let pending orders finish) before erasing them.", "customer")
