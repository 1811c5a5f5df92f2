"""Buying and selling fund units: subscriptions (a card debit through the normal payment path,
confirmed on the trading day after the order's), redemptions (fast, paid to the card at once
within the day's cap; normal, paid on the next trading day), the payouts behind them, and
installments paid from the fund.

A holding's row lock serialises everything that changes its units, so concurrent redemptions
never take more than the holding nor cross the fast cap. Banks are called between transactions:
a redemption is recorded (units gone, `paying`) before its payout is sent, and a payout whose
answer is lost is asked about again (`check_payouts`), never sent twice.
"""
from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gateway.adapters.connectors.base import CardDetails, ConnectorResult, Outcome, PayoutRequest
from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.fund_models import Fund, FundAccrualRun, FundHolding, FundMovement, FundRedemption, FundSubscription
from gateway.adapters.db.models import Customer, Payment, SavedCard
from gateway.adapters.db.upsert import insert_if_absent
from gateway.domain import fund as rules
from gateway.domain import ledger as books
from gateway.domain.banks import bank_by_code
from gateway.domain.clock import beijing_date
from gateway.domain.fund import TradingCalendar
from gateway.domain.consent import ConsentKind
from gateway.domain.errors import DomainError, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.domain.money import MAX_AMOUNT_FEN
from gateway.services import events, payments
from gateway.services.customers import customer_data_key, owned_customer, require_consent
from gateway.services.funds import owned_fund
from gateway.services.payments import PaymentPorts
from gateway.services.read_models import RedemptionView, SubscriptionView
from gateway.services.saved_cards import opened_card

log = logging.getLogger(__name__)

# How long a payout handed to its bank is left alone before its bank is asked what became of it.
PAYOUT_CHECK_DELAY = timedelta(minutes=5)


@runtime_checkable
class FundPorts(PaymentPorts, Protocol):
    """What fund orders take: the payment path (a subscription is a card debit, a payout goes
    to a card's bank, an installment paid from the fund is told to its plan through
    `payment_settled`), and the exchange's trading days (cut-offs, confirmations, pay dates)."""

    calendar: TradingCalendar


class InsufficientUnits(DomainError):
    status = 422
    type = "fund_error"


# ---- subscriptions ----------------------------------------------------------------------------

def subscribe(gw: FundPorts, merchant_id: str, customer_id: str, fund_id: str, amount: int, card_id: str) -> SubscriptionView:
    """Take `amount` from the customer's saved card into the fund. Needs the `identity` and `fund`
    consents. The order's trading day T follows the fund's cut-off; units are confirmed on the
    trading day after T and earn from that day."""
    _check_amount(amount)
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        customer = owned_customer(session, merchant_id, customer_id, active=True)
        require_consent(session, customer.id, ConsentKind.IDENTITY, ConsentKind.FUND)
        fund = owned_fund(session, merchant_id, fund_id)
        _customer_card(session, customer_id, card_id, param="payment_method")
        order = rules.order_days(gw.calendar, now, rules.parse_cutoff(fund.cutoff))
        subscription = FundSubscription(
            id=new_id("fsub"), merchant_id=merchant_id, fund_id=fund.id, customer_id=customer_id, amount=amount, saved_card_id=card_id,
            payment_id=new_id("pay"), status="processing", trade_day=order.trade_day, confirm_day=order.next_trading_day, created_at=now,
        )
        session.add(subscription)
    request = payments.NewPayment(amount, "CNY", payments.PaymentMethod("saved_card", card_id), confirm=True,
                                  description=f"fund subscription {subscription.id}", purpose="fund_purchase",
                                  metadata={"fund_subscription": subscription.id})
    try:
        payments.create_payment(gw, merchant_id, request, payment_id=subscription.payment_id)
    except DomainError as refused:  # the card cannot be charged: the order fails, nothing moved
        with gw.db.unit_of_work() as session:
            row = session.execute(select(FundSubscription).where(FundSubscription.id == subscription.id).with_for_update()).scalar_one()
            row.status, row.failure_code = "failed", refused.code
        raise
    return get_subscription(gw, merchant_id, subscription.id)


def subscription_payment_settled(gw: FundPorts, session: Session, payment: Payment) -> None:
    """The subscription's card debit reached its outcome (called by the payment path, in its
    transaction): the money is in transit to the fund, or the order failed."""
    subscription = session.execute(select(FundSubscription).where(FundSubscription.payment_id == payment.id).with_for_update()).scalar_one()
    if subscription.status != "processing":
        return
    if payment.status == "succeeded":
        subscription.status, subscription.connector = "paid", payment.connector
        ledger.post(session, books.fund_subscription_paid_entry(reference=subscription.id, fund_id=subscription.fund_id, connector=payment.connector, amount=payment.amount))
    elif payment.status in ("failed", "canceled"):
        subscription.status, subscription.failure_code = "failed", payment.failure_code
    log.info("fund subscription %s: %s", subscription.id, subscription.status)


def confirm_due(gw: FundPorts, batch: int = 500) -> int:
    """Confirm the paid subscriptions whose confirmation day has come: units are added to the
    holding, earning from their confirmation day (or, when that day's income was already
    credited, from the first day not yet credited)."""
    today = beijing_date(gw.clock())
    with gw.db.unit_of_work() as session:
        due = session.execute(
            select(FundSubscription).where(FundSubscription.status == "paid", FundSubscription.confirm_day <= today)
            .order_by(FundSubscription.seq).limit(batch).with_for_update(skip_locked=True)
        ).scalars().all()
        for subscription in due:
            _confirm(gw, session, subscription)
    return len(due)


def _confirm(gw: FundPorts, session: Session, subscription: FundSubscription) -> None:
    now = gw.clock()
    holding = holding_for_update(session, subscription.fund_id, subscription.customer_id, created_at=now)
    effective = max(subscription.confirm_day, _first_unaccrued_day(session, subscription.fund_id))
    _move_units(session, holding, subscription.amount, "subscription", subscription.id, effective, now)
    subscription.status, subscription.effective_date, subscription.confirmed_at = "confirmed", effective, now
    ledger.post(session, books.fund_subscription_confirmed_entry(reference=subscription.id, fund_id=subscription.fund_id, connector=subscription.connector, amount=subscription.amount))
    events.record(session, subscription.merchant_id, "fund.subscription.confirmed", subscription_snapshot(subscription), now)


def get_subscription(gw: FundPorts, merchant_id: str, subscription_id: str) -> SubscriptionView:
    with gw.db.unit_of_work() as session:
        row = session.execute(select(FundSubscription).where(FundSubscription.id == subscription_id, FundSubscription.merchant_id == merchant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("fund subscription", subscription_id)
        return _subscription_view(row)


def _subscription_view(row: FundSubscription) -> SubscriptionView:
    return SubscriptionView(row.id, row.fund_id, row.customer_id, row.amount, row.status, row.payment_id, row.trade_day,
                            row.confirm_day, row.effective_date, row.failure_code, row.created_at)


def subscription_snapshot(row: FundSubscription) -> dict:
    return {"object": "fund_subscription", "id": row.id, "fund": row.fund_id, "customer": row.customer_id, "amount": row.amount,
            "status": row.status, "earns_from": row.effective_date.isoformat() if row.effective_date else None}


# ---- redemptions -------------------------------------------------------------------------------

def redeem(gw: FundPorts, merchant_id: str, customer_id: str, fund_id: str, amount: int, speed: rules.Speed, card_id: str) -> RedemptionView:
    """Sell `amount` fen of confirmed units back to the fund, paid to the customer's card: fast
    at once (within the day's cap), normal on the trading day after the order's. The units stop
    earning at once. No consent is needed: money is never trapped."""
    _check_amount(amount)
    now = gw.clock()
    today = beijing_date(now)
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id)
        fund = owned_fund(session, merchant_id, fund_id)
        _customer_card(session, customer_id, card_id, param="card")
        holding = holding_for_update(session, fund.id, customer_id)
        _require_units(holding, amount)
        if speed is rules.Speed.FAST:
            rules.check_fast_cap(fund.fast_redemption_daily_cap, fast_used(session, customer_id, fund.id, today), amount)
        if speed is rules.Speed.FAST:  # paid today, whatever the exchange does
            trade_day, pay_day = today, today
        else:
            order = rules.order_days(gw.calendar, now, rules.parse_cutoff(fund.cutoff))
            trade_day, pay_day = order.trade_day, order.next_trading_day
        redemption = FundRedemption(
            id=new_id("fred"), merchant_id=merchant_id, fund_id=fund.id, customer_id=customer_id, amount=amount, speed=speed.value,
            saved_card_id=card_id, status="paying" if speed is rules.Speed.FAST else "pending", local_day=today, trade_day=trade_day,
            pay_day=pay_day, created_at=now,
            next_check_at=now + PAYOUT_CHECK_DELAY if speed is rules.Speed.FAST else None,
        )
        session.add(redemption)
        _move_units(session, holding, -amount, "redemption", redemption.id, today, now)
        ledger.post(session, books.fund_redeemed_entry(reference=redemption.id, fund_id=fund.id, amount=amount))
    log.info("fund %s: %s redemption %s of %s fen for %s", fund_id, speed.value, redemption.id, amount, customer_id)
    if speed is rules.Speed.FAST:
        _pay_out(gw, redemption.id)
    return get_redemption(gw, merchant_id, redemption.id)


def fast_used(session: Session, customer_id: str, fund_id: str, day: date) -> int:
    """Fast redemptions (to a card or an installment) the customer made from the fund on this
    Beijing day; failed ones gave their units back and do not count."""
    return int(session.execute(
        select(func.coalesce(func.sum(FundRedemption.amount), 0)).where(
            FundRedemption.customer_id == customer_id, FundRedemption.fund_id == fund_id, FundRedemption.local_day == day,
            FundRedemption.speed == rules.Speed.FAST.value, FundRedemption.status != "failed",
        )
    ).scalar_one())


def pay_due(gw: FundPorts, batch: int = 100) -> int:
    """Pay the normal redemptions whose pay day has come."""
    today = beijing_date(gw.clock())
    with gw.db.unit_of_work() as session:
        due = session.execute(
            select(FundRedemption).where(FundRedemption.status == "pending", FundRedemption.pay_day <= today)
            .order_by(FundRedemption.seq).limit(batch).with_for_update(skip_locked=True)
        ).scalars().all()
        for redemption in due:  # claimed: marked paying before any bank sees it
            redemption.status, redemption.next_check_at = "paying", gw.clock() + PAYOUT_CHECK_DELAY
        claimed = [redemption.id for redemption in due]
    for redemption_id in claimed:
        _pay_out(gw, redemption_id)
    return len(claimed)


def check_payouts(gw: FundPorts, batch: int = 100) -> int:
    """Ask the bank about payouts whose answer never came (a callback bank, a time-out, a crash
    between recording the redemption and sending it)."""
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        stale = session.execute(
            select(FundRedemption).where(FundRedemption.status == "paying", FundRedemption.next_check_at <= now)
            .order_by(FundRedemption.next_check_at).limit(batch).with_for_update(skip_locked=True)
        ).scalars().all()
        for redemption in stale:
            redemption.next_check_at = now + PAYOUT_CHECK_DELAY
        asked = [(redemption.id, redemption.connector or _card_connector(gw, session, redemption.saved_card_id)) for redemption in stale]
    for redemption_id, connector in asked:
        record_payout(gw, redemption_id, gw.connector(connector).payout_status(redemption_id))
    return len(asked)


def repay_advances(gw: FundPorts, batch: int = 1000) -> int:
    """The manager settles fast redemptions on the trading day after they were paid: the
    partner bank's advance is repaid out of our position with the manager, one entry per fund."""
    now = gw.clock()
    today = beijing_date(now)
    with gw.db.unit_of_work() as session:
        paid = session.execute(
            select(FundRedemption).where(FundRedemption.speed == rules.Speed.FAST.value, FundRedemption.status == "paid",
                                         FundRedemption.saved_card_id.is_not(None), FundRedemption.advance_repaid_at.is_(None))
            .order_by(FundRedemption.seq).limit(batch).with_for_update(skip_locked=True)
        ).scalars().all()
        settled: dict[str, int] = {}
        for redemption in paid:
            if rules.next_trading_day(gw.calendar, redemption.local_day) <= today:
                redemption.advance_repaid_at = now
                settled[redemption.fund_id] = settled.get(redemption.fund_id, 0) + redemption.amount
        for fund_id, amount in sorted(settled.items()):
            ledger.post(session, books.fund_advance_repaid_entry(reference=f"{fund_id}:{today.isoformat()}", fund_id=fund_id, amount=amount))
    return len(settled)


def _pay_out(gw: FundPorts, redemption_id: str) -> None:
    with gw.db.unit_of_work() as session:
        redemption = _locked_redemption(session, redemption_id)
        saved = session.execute(select(SavedCard).where(SavedCard.id == redemption.saved_card_id)).scalar_one()
        customer = session.execute(select(Customer).where(Customer.id == saved.customer_id)).scalar_one()
        card = _card_details(gw, saved, customer)
        connector = gw.connector_for_bank(bank_by_code(saved.bank_code))
        redemption.connector = connector.name
    try:
        result = connector.payout(PayoutRequest(redemption.id, redemption.amount, "CNY", card, f"fund redemption {redemption.id}"))
    except Exception:  # a failed call is an unknown outcome: asked about later, never resent
        log.exception("redemption %s: payout through %s failed; outcome unknown", redemption.id, connector.name)
        result = ConnectorResult(Outcome.UNKNOWN)
    record_payout(gw, redemption.id, result)


def record_payout(gw: FundPorts, redemption_id: str, result: ConnectorResult) -> None:
    """What the bank said about a payout: paid (booked, `fund.redemption.paid`), refused (the
    units are the customer's again, and a fast one frees its share of the day's cap), or not
    known yet (asked again later)."""
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        redemption = _locked_redemption(session, redemption_id)
        if redemption.status != "paying":
            return
        redemption.connector_reference = result.reference or redemption.connector_reference
        if result.outcome is Outcome.APPROVED:
            redemption.status, redemption.paid_at, redemption.next_check_at = "paid", now, None
            ledger.post(session, books.fund_redemption_paid_entry(reference=redemption.id, fund_id=redemption.fund_id, amount=redemption.amount,
                                                                  fast=redemption.speed == rules.Speed.FAST.value))
            events.record(session, redemption.merchant_id, "fund.redemption.paid", redemption_snapshot(redemption), now)
        elif result.outcome is Outcome.DECLINED:
            redemption.status, redemption.failure_code, redemption.next_check_at = "failed", result.decline_code, None
            holding = holding_for_update(session, redemption.fund_id, redemption.customer_id)
            _move_units(session, holding, redemption.amount, "restored", redemption.id, beijing_date(now), now)
            ledger.post(session, books.fund_redemption_restored_entry(reference=redemption.id, fund_id=redemption.fund_id, amount=redemption.amount))
    log.info("redemption %s: payout %s", redemption_id, result.outcome.value)


def get_redemption(gw: FundPorts, merchant_id: str, redemption_id: str) -> RedemptionView:
    with gw.db.unit_of_work() as session:
        row = session.execute(select(FundRedemption).where(FundRedemption.id == redemption_id, FundRedemption.merchant_id == merchant_id)).scalar_one_or_none()
        if row is None:
            raise NotFound("fund redemption", redemption_id)
        return _redemption_view(row)


def _redemption_view(row: FundRedemption) -> RedemptionView:
    return RedemptionView(row.id, row.fund_id, row.customer_id, row.amount, row.speed, row.status, row.saved_card_id, row.installment_plan_id,
                          row.trade_day, row.pay_day, row.failure_code, row.created_at, row.paid_at)


def redemption_snapshot(row: FundRedemption) -> dict:
    return {"object": "fund_redemption", "id": row.id, "fund": row.fund_id, "customer": row.customer_id, "amount": row.amount,
            "speed": row.speed, "status": row.status, "installment_plan": row.installment_plan_id}


def _locked_redemption(session: Session, redemption_id: str) -> FundRedemption:
    return session.execute(select(FundRedemption).where(FundRedemption.id == redemption_id).with_for_update()).scalar_one()


# ---- installments paid from the fund -----------------------------------------------------------

def pay_installment(gw: FundPorts, plan, payment_id: str, owed: int, number: int) -> int:
    """Redeem up to `owed` from the plan's fund and apply it to the plan at once, as a fast
    redemption (it counts against the day's cap). Returns what the fund paid: 0 when the customer
    holds no units or has no fast allowance left today; the caller takes the rest from the card."""
    now = gw.clock()
    today = beijing_date(now)
    with gw.db.unit_of_work() as session:
        fund = session.execute(select(Fund).where(Fund.id == plan.source_fund_id)).scalar_one()
        holding = holding_for_update(session, fund.id, plan.customer_id)
        if holding is None:
            return 0
        allowance = rules.fast_available(fund.fast_redemption_daily_cap, fast_used(session, plan.customer_id, fund.id, today))
        taken = min(owed, holding.units, allowance)
        if taken <= 0:
            return 0
        redemption = FundRedemption(
            id=new_id("fred"), merchant_id=plan.merchant_id, fund_id=fund.id, customer_id=plan.customer_id, amount=taken,
            speed=rules.Speed.FAST.value, installment_plan_id=plan.id, status="paid", local_day=today, trade_day=today, pay_day=today,
            connector=fund_connector(fund.id), created_at=now, paid_at=now,
        )
        session.add(redemption)
        _move_units(session, holding, -taken, "redemption", redemption.id, today, now)
        payment = Payment(
            id=payment_id, merchant_id=plan.merchant_id, amount=taken, currency="CNY", status="succeeded", capture_method="automatic",
            amount_capturable=0, amount_received=taken, amount_refunded=0, reconcile_attempts=0, purpose="installment",
            installment_plan_id=plan.id, customer_id=plan.customer_id, connector=fund_connector(fund.id),
            description=f"installment {number} of plan {plan.id}, from fund {fund.code}", metadata_={"installment": str(number), "fund_redemption": redemption.id},
            created_at=now,
        )
        session.add(payment)
        session.flush()
        events.record_payment_change(session, payment, now)
        events.record(session, plan.merchant_id, "fund.redemption.paid", redemption_snapshot(redemption), now)
        # Books the collection with the fund's holdings as the money's source (gateway/domain/ledger.py).
        gw.payment_settled(session, payment)
    log.info("plan %s installment %s: %s of %s fen paid from fund %s", plan.id, number, taken, owed, fund.id)
    return taken


def fund_connector(fund_id: str) -> str:
    return books.FUND_SOURCE_PREFIX + fund_id


# ---- holdings ----------------------------------------------------------------------------------

def holding_for_update(session: Session, fund_id: str, customer_id: str, created_at: datetime | None = None) -> FundHolding | None:
    """The customer's holding in the fund, row-locked (created empty first when `created_at` is given)."""
    if created_at is not None:
        insert_if_absent(session, FundHolding, ["fund_id", "customer_id"], fund_id=fund_id, customer_id=customer_id,
                         units=0, accrued_income=0, cumulative_income=0, created_at=created_at)
    return session.execute(
        select(FundHolding).where(FundHolding.fund_id == fund_id, FundHolding.customer_id == customer_id).with_for_update()
    ).scalar_one_or_none()


def _move_units(session: Session, holding: FundHolding, units: int, kind: str, reference: str, effective: date, now: datetime) -> None:
    """Change a holding's units from `effective` on, with the fund's units outstanding."""
    holding.units += units
    session.add(FundMovement(fund_id=holding.fund_id, holding_seq=holding.seq, kind=kind, reference=reference, effective_date=effective,
                             units=units, created_at=now))
    session.execute(update(Fund).where(Fund.id == holding.fund_id).values(units_outstanding=Fund.units_outstanding + units))


def _require_units(holding: FundHolding | None, amount: int) -> None:
    held = holding.units if holding else 0
    if amount > held:
        raise InsufficientUnits("insufficient_units", f"Only {held} fen of confirmed units can be redeemed; units not yet confirmed cannot.", "amount")


def _first_unaccrued_day(session: Session, fund_id: str) -> date:
    last = session.execute(select(func.max(FundAccrualRun.day)).where(FundAccrualRun.fund_id == fund_id)).scalar_one()
    return last + timedelta(days=1) if last else date.min


def _customer_card(session: Session, customer_id: str, card_id: str, param: str) -> SavedCard:
    saved = session.execute(select(SavedCard).where(SavedCard.id == card_id, SavedCard.customer_id == customer_id)).scalar_one_or_none()
    if saved is None or saved.status != "active":
        raise InvalidRequest("card_not_active", "The card must be an active saved card of this customer.", param)
    return saved


def _card_connector(gw: FundPorts, session: Session, card_id: str) -> str:
    saved = session.execute(select(SavedCard).where(SavedCard.id == card_id)).scalar_one()
    return gw.connector_for_bank(bank_by_code(saved.bank_code)).name


def _card_details(gw: FundPorts, saved: SavedCard, customer: Customer) -> CardDetails:
    """The card's details for a payout: no consent check, since a redemption must always reach
    the customer's money (PIPL: withdrawing consent never traps it)."""
    return opened_card(saved, customer_data_key(gw, customer))


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not (0 < amount <= MAX_AMOUNT_FEN):
        raise InvalidRequest("amount_invalid", "amount must be a positive number of fen.", "amount")
