"""Installment plans: products, quotes, plans, collecting what falls due, lateness, early
payment and cooling-off cancellation.

Money: the down payment is an ordinary sale to the merchant; the financed rest is paid to the
merchant at once (less its fee) and becomes the customer's receivable; each collection repays
principal and earns interest and late fees for the platform. Each installment debit is an
ordinary payment on the customer's saved card (purpose "installment"), so callbacks, time-outs
and reconciliation work for it as for any payment; `payment_settled` is where its outcome lands.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.device_models import Device
from gateway.adapters.db.installment_models import DeviceToken, Installment, InstallmentPlan, InstallmentProduct
from gateway.adapters.db.models import Merchant, Payment, SavedCard
from gateway.domain import installments as rules
from gateway.domain.clock import BEIJING, as_utc, beijing_date
from gateway.domain.consent import ConsentKind
from gateway.domain.errors import Conflict, DomainError, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.adapters.db.lookup import owned
from gateway.domain.ledger import batch_collection_entry, collection_entry, financing_entry, financing_reversal_entry
from gateway.domain.money import merchant_fee
from gateway.domain.payments import Outcome
from gateway.domain.reconciliation import CLAIM_LEASE
from gateway.services import credit, device_credit, events, payments, refunds
from gateway.services.payments import PaymentPorts
from gateway.services.ports import Collected, InstallmentFromFund, InstallmentStore
from gateway.services.customers import owned_customer, require_consent
from gateway.services.funds import owned_fund
from gateway.services.read_models import DeviceTokenView, InstallmentView, PaymentView, PlanRecord, PlanView, ProductView

log = logging.getLogger(__name__)

OPEN_STATES = ("pending", "active")


@runtime_checkable
class InstallmentPorts(PaymentPorts, Protocol):
    """Plans take what their payments take (each collection is a payment; the credit score, or
    the settings for a customer never scored, give the customer's installment credit limit), their
    own rows, and the fund that pays the installments of plans whose source is a fund."""

    installment_store: Callable[[Session], InstallmentStore]
    installment_from_fund: InstallmentFromFund


class CreditLimitExceeded(DomainError):
    status = 402
    type = "installment_error"


# ---- products and quotes ----------------------------------------------------------------------

@dataclass(frozen=True)
class ProductTerms:
    name: str
    terms: list[int]
    method: rules.Method
    apr: Decimal = Decimal(0)
    fee_rate: Decimal = Decimal(0)
    down_payment_share: Decimal = Decimal(0)
    min_amount: int = 100_00
    max_amount: int = 50_000_00
    grace_days: int = 5
    late_fee_fixed: int = 20_00
    late_fee_rate: Decimal = Decimal(0)
    late_fee_cap: int = 200_00
    cooling_off_days: int = 7


def create_product(gw: InstallmentPorts, merchant_id: str, terms: ProductTerms) -> ProductView:
    if not terms.terms or any(term not in rules.TERMS for term in terms.terms):
        raise InvalidRequest("term_invalid", f"terms must be chosen from {', '.join(map(str, rules.TERMS))}.", "terms")
    if not (Decimal(0) <= terms.down_payment_share < Decimal(1)):
        raise InvalidRequest("down_payment_share_invalid", "down_payment_share must be in [0, 1).", "down_payment_share")
    if not (0 < terms.min_amount <= terms.max_amount):
        raise InvalidRequest("amount_range_invalid", "min_amount must be positive and at most max_amount.", "min_amount")
    # Checks the rates the same way a quote would, so a product that exists can always quote.
    rules.build_schedule(terms.min_amount, terms.terms[0], terms.method, apr=terms.apr, fee_rate=terms.fee_rate, start=date(2000, 1, 1))
    product = InstallmentProduct(
        id=new_id("ipr"), merchant_id=merchant_id, name=terms.name, terms=sorted(set(terms.terms)), method=terms.method.value,
        apr=terms.apr, fee_rate=terms.fee_rate, down_payment_share=terms.down_payment_share, min_amount=terms.min_amount,
        max_amount=terms.max_amount, grace_days=terms.grace_days, late_fee_fixed=terms.late_fee_fixed,
        late_fee_rate=terms.late_fee_rate, late_fee_cap=terms.late_fee_cap, cooling_off_days=terms.cooling_off_days,
        created_at=gw.clock(),
    )
    with gw.db.unit_of_work() as session:
        session.add(product)
    return ProductView.from_row(product)


def get_product(gw: InstallmentPorts, merchant_id: str, product_id: str) -> ProductView:
    with gw.db.unit_of_work() as session:
        return ProductView.from_row(_owned_product(session, merchant_id, product_id))


@dataclass(frozen=True)
class Quote:
    amount: int
    down_payment: int
    schedule: rules.Schedule


def quote(gw: InstallmentPorts, merchant_id: str, amount: int, *, product_id: str | None = None, term_months: int | None = None,
          method: rules.Method | None = None, apr: Decimal | None = None, fee_rate: Decimal | None = None) -> Quote:
    """The exact schedule a shopper would agree to: from a product (with its down payment), or
    from inline terms (the whole amount financed)."""
    today = local_today(gw)
    if product_id is None:
        if term_months is None or method is None:
            raise InvalidRequest("parameter_missing", "Give a product, or term_months and method.", "product")
        schedule = rules.build_schedule(amount, term_months, method, apr=apr or Decimal(0), fee_rate=fee_rate or Decimal(0), start=today)
        return Quote(amount, 0, schedule)
    with gw.db.unit_of_work() as session:
        product = _owned_product(session, merchant_id, product_id)
    return _product_quote(product, amount, term_months, today)


def _product_quote(product: InstallmentProduct, amount: int, term_months: int | None, start: date) -> Quote:
    if term_months not in product.terms:
        raise InvalidRequest("term_invalid", f"This product offers {', '.join(map(str, product.terms))} months.", "term_months")
    if not (product.min_amount <= amount <= product.max_amount):
        raise InvalidRequest("amount_out_of_range", f"This product finances {product.min_amount} to {product.max_amount} fen.", "amount")
    down = rules.down_payment(amount, product.down_payment_share)
    schedule = rules.build_schedule(amount - down, term_months, rules.Method(product.method), apr=product.apr, fee_rate=product.fee_rate, start=start)
    return Quote(amount, down, schedule)


# ---- plans ------------------------------------------------------------------------------------

def create_plan(gw: InstallmentPorts, merchant_id: str, *, customer_id: str, card_id: str, product_id: str, term_months: int, amount: int,
                device_id: str | None = None, source: str = "card", fund_id: str | None = None, plan_id: str | None = None) -> PlanView:
    """Check credit, take the down payment, and (once it is paid) pay the merchant in full and
    book the customer's receivable. A down payment still awaiting its bank leaves the plan pending.
    With `source` "fund", installments are paid from the customer's units of `fund_id` when due,
    and the card pays what the fund cannot. `plan_id` is given by a caller that claimed it
    beforehand (the hosted checkout)."""
    with gw.db.unit_of_work() as session:
        # The customer's row lock serialises their plan requests, so concurrent ones cannot
        # together exceed the credit limit.
        customer = owned_customer(session, merchant_id, customer_id, active=True, lock=True)
        require_consent(session, customer.id, ConsentKind.IDENTITY, ConsentKind.BANK_CARD)
        card = session.execute(select(SavedCard).where(SavedCard.id == card_id, SavedCard.customer_id == customer_id)).scalar_one_or_none()
        if card is None or card.status != "active":
            raise InvalidRequest("card_not_active", "The card must be an active saved card of this customer.", "card")
        product = _owned_product(session, merchant_id, product_id)
        if device_id is not None:
            _require_device(session, merchant_id, device_id)
        _check_source(session, merchant_id, source, fund_id)
        offer = _product_quote(product, amount, term_months, local_today(gw))
        # The limit of the customer's latest credit score (the setting for one never scored).
        available = credit.installment_limit(gw, session, customer_id) - _outstanding(session, customer_id)
        if offer.schedule.financed > available:
            raise CreditLimitExceeded("credit_limit_exceeded", f"The customer has {max(available, 0)} fen of installment credit left.", "amount")
        plan = InstallmentPlan(
            id=plan_id or new_id("ipl"), merchant_id=merchant_id, customer_id=customer_id, saved_card_id=card_id, product_id=product_id,
            device_id=device_id, amount=amount, currency="CNY", down_payment=offer.down_payment, financed=offer.schedule.financed,
            term_months=term_months, method=product.method, apr=offer.schedule.apr, start_date=local_today(gw), state="pending",
            delinquency=rules.Delinquency.CURRENT.value, late_fees_charged=0, created_at=gw.clock(),
            down_payment_payment_id=new_id("pay") if offer.down_payment else None,
            funding_source=source, source_fund_id=fund_id if source == "fund" else None,
        )
        session.add(plan)
    if offer.down_payment == 0:
        with gw.db.unit_of_work() as session:
            _activate(gw, session, _locked_plan(session, merchant_id, plan.id))
        return get_plan(gw, merchant_id, plan.id)
    down = payments.create_payment(
        gw, merchant_id,
        payments.NewPayment(offer.down_payment, "CNY", payments.PaymentMethod("saved_card", card_id), confirm=True,
                            description=f"down payment, installment plan {plan.id}", purpose="down_payment", installment_plan_id=plan.id),
        payment_id=plan.down_payment_payment_id,
    )
    log.info("plan %s: down payment %s is %s", plan.id, down.id, down.status)
    return get_plan(gw, merchant_id, plan.id)


def _check_source(session: Session, merchant_id: str, source: str, fund_id: str | None) -> None:
    if source not in ("card", "fund"):
        raise InvalidRequest("source_invalid", 'source must be "card" or "fund".', "source")
    if source == "fund":
        if not fund_id:
            raise InvalidRequest("parameter_missing", 'A plan paid from the fund names the fund: send "fund".', "fund")
        owned_fund(session, merchant_id, fund_id)


def payment_settled(gw: InstallmentPorts, session: Session, payment: Payment) -> None:
    """A payment of a plan (its down payment, or a collection) reached its outcome."""
    plan = gw.installment_store(session).locked_plan(payment.installment_plan_id)
    if payment.purpose == "down_payment":
        if payment.status == "succeeded" and plan.state == "pending":
            _activate(gw, session, plan)
        elif payment.status == "failed" and plan.state == "pending":
            plan.state, plan.canceled_at = "canceled", gw.clock()
            log.info("plan %s canceled: down payment failed (%s)", plan.id, payment.failure_code)
        return
    if payment.status == "succeeded":
        _collected(gw, session, plan, payment)
    elif payment.status == "failed":
        _collection_failed(gw, session, plan, payment)


def _activate(gw: InstallmentPorts, session: Session, plan: InstallmentPlan) -> None:
    product = session.get(InstallmentProduct, plan.product_id)
    schedule = rules.build_schedule(plan.financed, plan.term_months, rules.Method(plan.method), apr=product.apr, fee_rate=product.fee_rate, start=plan.start_date)
    for period in schedule.periods:
        session.add(Installment(
            plan_id=plan.id, number=period.number, due_date=period.due_date, principal=period.principal, interest=period.interest,
            late_fee=0, paid_principal=0, paid_interest=0, paid_late_fee=0, waived_interest=0, status="scheduled", attempts=0,
            next_attempt_at=_start_of(period.due_date),
        ))
    rate = session.execute(select(Merchant.discount_rate).where(Merchant.id == plan.merchant_id)).scalar_one()
    ledger.post(session, financing_entry(
        reference=plan.id, merchant_id=plan.merchant_id, customer_id=plan.customer_id, currency=plan.currency,
        financed=plan.financed, fee=merchant_fee(plan.financed, rate),
    ))
    plan.state = "active"
    if plan.device_id:
        _device_owned_by(session, plan.device_id, plan.customer_id)
    session.flush()
    device_credit.plan_activated(gw, session, plan, paid_until(gw.installment_store(session), plan, product))
    log.info("plan %s active: %s fen financed over %s months", plan.id, plan.financed, plan.term_months)


def _require_device(session: Session, merchant_id: str, device_id: str) -> None:
    """Only the merchant's own, active, lockable device can be sold on a plan."""
    device = session.get(Device, device_id)
    if device is None or device.merchant_id != merchant_id:
        raise NotFound("device", device_id, "device")
    if device.state != "active":
        raise Conflict("device_not_active", f"Device {device_id} is {device.state}.", "device")
    device_credit.require_provisioned(session, device_id)


def _device_owned_by(session: Session, device_id: str, customer_id: str) -> None:
    """The device sold on the plan now belongs to the customer (its usage data is theirs)."""
    device = session.get(Device, device_id)
    if device is not None:
        device.owner_customer_id = customer_id


# ---- collecting -------------------------------------------------------------------------------

def collect_due(gw: InstallmentPorts, batch: int = 500) -> int:
    """Debit every installment that is due and not being collected. Claimed with SKIP LOCKED and
    marked `collecting` (with the id its debit will have) in one short transaction, so two
    workers never debit it twice. A claim whose worker died before creating the debit is taken
    over once its lease ends; one whose debit exists is settled by that debit, never redone.

    On-time installments of plans in good standing go to their bank in bulk, as a batch debit
    file (`_collect_in_bulk`); the rest, which need lateness, device or completion handling, one
    payment at a time."""
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        claimed = gw.installment_store(session).claim_due(now, batch)
        claims = []
        for installment, plan in claimed:
            installment.status = "collecting"
            installment.collecting_payment_id = new_id("pay")
            installment.next_attempt_at = now + CLAIM_LEASE
            claims.append(_Claim(plan, installment.seq, installment.number, installment.collecting_payment_id, _owed(installment),
                                 principal=installment.principal, interest=installment.interest, due_date=installment.due_date,
                                 plain=_plain(plan, installment)))
    one_by_one = [claim for claim in claims if not claim.plain]
    one_by_one += _collect_in_bulk(gw, [claim for claim in claims if claim.plain])
    for claim in one_by_one:
        _debit_one(gw, claim)
    return len(claims)


@dataclass(frozen=True)
class _Claim:
    plan: InstallmentPlan
    installment_seq: int
    number: int
    payment_id: str
    amount: int
    principal: int
    interest: int
    due_date: date
    plain: bool


def _plain(plan: InstallmentPlan, item: Installment) -> bool:
    """An installment nothing else hangs on: on time, untouched, not the last, no device, paid by
    card (not from a fund)."""
    return (plan.delinquency == rules.Delinquency.CURRENT.value and plan.device_id is None and item.number < plan.term_months
            and plan.funding_source != "fund"
            and item.late_fee == 0 and item.paid_principal == item.paid_interest == item.waived_interest == 0)


def _debit_one(gw: InstallmentPorts, claim: _Claim) -> None:
    if claim.plan.funding_source == "fund":
        claim = _from_fund(gw, claim)
        if claim is None:
            return
    plan = claim.plan
    request = payments.NewPayment(claim.amount, plan.currency, payments.PaymentMethod("saved_card", plan.saved_card_id), confirm=True,
                                  description=f"installment {claim.number} of plan {plan.id}", metadata={"installment": str(claim.number)},
                                  purpose="installment", installment_plan_id=plan.id)
    try:
        payments.create_payment(gw, plan.merchant_id, request, payment_id=claim.payment_id)
    except DomainError as refused:  # card disabled, consent withdrawn: a failed attempt
        with gw.db.unit_of_work() as session:
            store = gw.installment_store(session)
            plan = store.locked_plan(plan.id)
            _attempt_failed(gw, session, plan, store.installment(plan.id, claim.number), refused.code)


def _from_fund(gw: InstallmentPorts, claim: _Claim) -> _Claim | None:
    """Pay the installment from the plan's fund as far as the units and the day's fast cap go;
    the claim for the rest, to debit from the card (None when the fund paid it all)."""
    taken = gw.installment_from_fund(claim.plan, claim.payment_id, claim.amount, claim.number)
    if taken == 0:
        return claim
    if taken == claim.amount:
        return None
    rest = replace(claim, payment_id=new_id("pay"), amount=claim.amount - taken)
    with gw.db.unit_of_work() as session:  # claimed again for the card's debit of the rest
        item = gw.installment_store(session).installment(claim.plan.id, claim.number)
        item.status, item.collecting_payment_id, item.next_attempt_at = "collecting", rest.payment_id, gw.clock() + CLAIM_LEASE
    return rest


def _collect_in_bulk(gw: InstallmentPorts, claims: list[_Claim]) -> list[_Claim]:
    """Debit plain installments as one batch per bank: their payments are inserted together, the
    bank decides them in one file, and those it approves are booked together (one ledger entry
    per batch, bulk updates and events). Returns the claims to debit one by one instead: cards
    that cannot be charged now, which the one-by-one path turns into failed attempts."""
    if not claims:
        return []
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        store = gw.installment_store(session)
        cards, refused = store.chargeable_cards({claim.plan.saved_card_id for claim in claims})
        ready = [claim for claim in claims if claim.plan.saved_card_id in cards]
        rows = [payments.installment_debit_row(gw, claim.payment_id, claim.plan, claim.amount, claim.number, cards[claim.plan.saved_card_id]) for claim in ready]
        store.add_payments([row for row, _card in rows])
    by_connector: dict[str, list[tuple[_Claim, dict, object]]] = {}
    for claim, (row, card) in zip(ready, rows):
        by_connector.setdefault(row["connector"], []).append((claim, row, card))
    for connector_name, batch in by_connector.items():
        results = gw.connector(connector_name).authorize_batch([payments.charge_request(row, card) for _claim, row, card in batch])
        approved = [(claim, row, result) for (claim, row, _card), result in zip(batch, results) if result.outcome is Outcome.APPROVED]
        others = [(row, result) for (_claim, row, _card), result in zip(batch, results) if result.outcome is not Outcome.APPROVED]
        if approved:
            _book_batch(gw, connector_name, approved, now)
        for row, result in others:  # declines, time-outs, banks that answer later: the usual path
            payments.record_result(gw, row["merchant_id"], row["id"], result)
    return [claim for claim in claims if claim.plan.saved_card_id in refused]


def _book_batch(gw: InstallmentPorts, connector_name: str, approved: list, now) -> None:
    """The approved debits of one bank file, booked in one transaction."""
    with gw.db.unit_of_work() as session:
        store = gw.installment_store(session)
        store.mark_collected([Collected(row["id"], row["amount"], result.reference, claim.installment_seq, claim.principal, claim.interest)
                              for claim, row, result in approved], now)
        by_merchant: dict[str, list[tuple[str, dict]]] = {}
        for claim, row, _result in approved:
            item = {"object": "installment", "plan": claim.plan.id, "number": claim.number, "due_date": claim.due_date.isoformat(),
                    "principal": claim.principal, "interest": claim.interest, "late_fee": 0, "status": "paid"}
            paid = {"object": "payment", "id": row["id"], "amount": row["amount"], "currency": row["currency"], "status": "succeeded",
                    "amount_received": row["amount"], "amount_refunded": 0, "failure_code": None, "customer": row["customer_id"], "metadata": row["metadata"]}
            by_merchant.setdefault(claim.plan.merchant_id, []).extend([("payment.succeeded", paid), ("installment.paid", item)])
        for merchant_id, items in by_merchant.items():
            store.record_many(merchant_id, items, now)
        # Last, just before the commit: the shared balance rows stay locked for the shortest time.
        principal_by_customer: dict[str, int] = {}
        for claim, _row, _result in approved:
            principal_by_customer[claim.plan.customer_id] = principal_by_customer.get(claim.plan.customer_id, 0) + claim.principal
        store.post(batch_collection_entry(
            reference=new_id("batch"), connector=connector_name, currency=approved[0][0].plan.currency,
            principal_by_customer=principal_by_customer, interest=sum(claim.interest for claim, _row, _result in approved),
        ))
    log.info("%s: %d installments collected in one batch", connector_name, len(approved))


def pay_now(gw: InstallmentPorts, merchant_id: str, plan_id: str, kind: str, amount: int | None = None) -> PaymentView:
    """Early or manual payment from the plan's card: the next installment, any amount, or the
    payoff amount (future interest waived on the declining-balance methods). A plan paid from a
    fund pays its next installment from the fund (the card pays what the fund cannot)."""
    with gw.db.unit_of_work() as session:
        plan = _locked_plan(session, merchant_id, plan_id)
        if plan.state != "active":
            raise Conflict("plan_not_active", f"The plan is {plan.state}.", "plan")
        if session.execute(select(Installment.seq).where(Installment.plan_id == plan.id, Installment.status == "collecting")).first():
            raise Conflict("collection_in_progress", "A payment for this plan is in progress; try again shortly.", "plan")
        unpaid = gw.installment_store(session).unpaid(plan.id)
        if kind == "next":
            owed = _owed(unpaid[0])
        elif kind == "payoff":
            owed = payoff_quote(gw, merchant_id, plan_id, session=session)["total"]
        else:
            total_owed = sum(_owed(item) for item in unpaid)
            if amount is None or not (0 < amount <= total_owed):
                raise InvalidRequest("amount_invalid", f"amount must be 1 to {total_owed} fen.", "amount")
            owed = amount
        payment_id = new_id("pay")
        for item in unpaid:  # no scheduled debit may start while this one runs
            item.status, item.collecting_payment_id = "collecting", payment_id
            item.next_attempt_at = gw.clock() + CLAIM_LEASE
        number = unpaid[0].number
    if plan.funding_source == "fund" and kind == "next":
        claim = _from_fund(gw, _Claim(plan, 0, number, payment_id, owed, 0, 0, date.min, False))
        if claim is None:
            with gw.db.unit_of_work() as session:
                return PaymentView.from_row(gw.payment_store(session).owned(merchant_id, payment_id))
        payment_id, owed = claim.payment_id, claim.amount
    request = payments.NewPayment(owed, plan.currency, payments.PaymentMethod("saved_card", plan.saved_card_id), confirm=True,
                                  description=f"{kind} payment, plan {plan.id}", metadata={"intent": kind},
                                  purpose="installment", installment_plan_id=plan.id)
    try:
        return payments.create_payment(gw, merchant_id, request, payment_id=payment_id)
    except DomainError:
        with gw.db.unit_of_work() as session:
            for item in gw.installment_store(session).unpaid(plan.id):
                if item.collecting_payment_id == payment_id:
                    item.status, item.collecting_payment_id = "scheduled", None
        raise


def payoff_quote(gw: InstallmentPorts, merchant_id: str, plan_id: str, session: Session | None = None) -> dict:
    def compute(session: Session) -> dict:
        plan = _owned_plan(session, merchant_id, plan_id)
        unpaid = gw.installment_store(session).unpaid(plan.id)
        if plan.state != "active" or not unpaid:
            raise Conflict("plan_not_active", f"The plan is {plan.state}.", "plan")
        today = local_today(gw)
        payoff = rules.payoff_amount(rules.Method(plan.method), plan.start_date, [_left_of(item) for item in unpaid], today)
        return {"plan": plan.id, "principal": payoff.principal, "interest": payoff.interest, "late_fees": payoff.late_fees, "total": payoff.total, "as_of": today}

    if session is not None:
        return compute(session)
    with gw.db.unit_of_work() as session:
        return compute(session)


def _left_of(item: Installment) -> rules.Owed:
    return rules.Owed(item.number, item.principal - item.paid_principal, item.interest - item.paid_interest - item.waived_interest,
                      item.late_fee - item.paid_late_fee)


def _collected(gw: InstallmentPorts, session: Session, plan: InstallmentPlan, payment: Payment) -> None:
    store = gw.installment_store(session)
    unpaid = store.unpaid(plan.id)
    if (payment.metadata_ or {}).get("intent") == "payoff":
        today = local_today(gw)
        for item in unpaid:
            left = _left_of(item).interest
            item.waived_interest += left - rules.interest_at_payoff(rules.Method(plan.method), plan.start_date, item.number, left, today)
    left, split = payment.amount_received, {"principal": 0, "interest": 0, "late_fee": 0}
    for item in unpaid:  # oldest first: late fee, then interest, then principal
        for part, due in (("late_fee", item.late_fee - item.paid_late_fee), ("interest", item.interest - item.paid_interest - item.waived_interest), ("principal", item.principal - item.paid_principal)):
            take = min(left, due)
            setattr(item, f"paid_{part}", getattr(item, f"paid_{part}") + take)
            split[part] += take
            left -= take
        if _owed(item) == 0:
            item.status, item.paid_at, item.collecting_payment_id = "paid", gw.clock(), None
            store.record(plan.merchant_id, "installment.paid", installment_snapshot(plan, item), gw.clock())
        else:
            item.status, item.collecting_payment_id = "scheduled", None
            item.next_attempt_at = max(as_utc(item.next_attempt_at) if item.next_attempt_at else gw.clock(), _start_of(item.due_date))
    if left:  # more than the plan owes (pay_now prevents it): kept for the customer, never lost
        log.error("plan %s: payment %s overpaid by %s fen; held as the customer's credit", plan.id, payment.id, left)
    store.post(collection_entry(
        reference=payment.id, connector=payment.connector, customer_id=plan.customer_id, currency=plan.currency,
        principal=split["principal"], interest=split["interest"], late_fee=split["late_fee"], overpaid=left,
    ))
    product = store.product(plan.product_id)
    if not store.unpaid(plan.id):
        plan.state, plan.completed_at = "completed", gw.clock()
        plan.delinquency = rules.Delinquency.CURRENT.value
        store.record(plan.merchant_id, "plan.completed", plan_snapshot(plan), gw.clock())
        device_credit.plan_completed(gw, session, plan)
        log.info("plan %s completed", plan.id)
        return
    _refresh_delinquency(gw, session, plan, product)
    device_credit.paid_until_changed(gw, session, plan, paid_until(store, plan, product))


def _collection_failed(gw: InstallmentPorts, session: Session, plan: InstallmentPlan, payment: Payment) -> None:
    for item in gw.installment_store(session).collecting(plan.id, payment.id):
        if (payment.metadata_ or {}).get("intent"):
            item.status = "scheduled"  # a manual payment failed: the schedule goes on as before
            continue
        _attempt_failed(gw, session, plan, item, payment.failure_code)


def _attempt_failed(gw: InstallmentPorts, session: Session, plan: InstallmentPlan, item: Installment, reason: str | None) -> None:
    item.status, item.collecting_payment_id = "scheduled", None
    if not rules.counts_as_attempt(reason):
        item.next_attempt_at = gw.clock() + rules.UNSENT_RETRY
        log.info("plan %s installment %s: its debit never reached the bank; sent again from %s", plan.id, item.number, item.next_attempt_at)
        return
    store = gw.installment_store(session)
    product = store.product(plan.product_id)
    days_late = (local_today(gw) - item.due_date).days
    item.attempts += 1
    item.next_attempt_at = _start_of(item.due_date + timedelta(days=rules.next_attempt_day(max(days_late, 0), product.grace_days)))
    store.record(plan.merchant_id, "installment.failed", {**installment_snapshot(plan, item), "failure_code": reason}, gw.clock())
    log.info("plan %s installment %s not collected (%s); next try %s", plan.id, item.number, reason, item.next_attempt_at)


# ---- lateness ---------------------------------------------------------------------------------

def update_delinquency(gw: InstallmentPorts, batch: int = 500) -> int:
    """Charge late fees past grace and move plans through the delinquency buckets."""
    today = local_today(gw)
    with gw.db.unit_of_work() as session:
        store = gw.installment_store(session)
        plans = store.overdue_plans(today, batch)
        for plan in plans:
            _refresh_delinquency(gw, session, plan, store.product(plan.product_id))
    return len(plans)


def _refresh_delinquency(gw: InstallmentPorts, session: Session, plan: InstallmentPlan, product: InstallmentProduct) -> None:
    today = local_today(gw)
    store = gw.installment_store(session)
    overdue = [item for item in store.unpaid(plan.id) if item.due_date < today]
    days = max(((today - item.due_date).days for item in overdue), default=0)
    for item in overdue:
        if (today - item.due_date).days > product.grace_days and item.late_fee == 0:
            item.late_fee = rules.late_fee(item.principal + item.interest, product.late_fee_fixed, product.late_fee_rate, product.late_fee_cap, plan.late_fees_charged)
            plan.late_fees_charged += item.late_fee
    bucket = rules.delinquency_bucket(days, product.grace_days)
    before = rules.Delinquency(plan.delinquency)
    plan.delinquency = bucket.value
    if rules.BUCKET_ORDER.index(bucket) > rules.BUCKET_ORDER.index(before) and bucket not in (rules.Delinquency.CURRENT, rules.Delinquency.GRACE):
        store.record(plan.merchant_id, "plan.delinquent", plan_snapshot(plan), gw.clock())
        log.info("plan %s delinquent: %s", plan.id, bucket.value)


def paid_until(store: InstallmentStore, plan: InstallmentPlan, product: InstallmentProduct) -> date:
    """The device may be used until the next unpaid due date plus the grace days."""
    unpaid = store.unpaid(plan.id)
    if not unpaid:
        return rules.add_months(plan.start_date, plan.term_months)
    return unpaid[0].due_date + timedelta(days=product.grace_days)


# ---- cancellation -----------------------------------------------------------------------------

def cancel_plan(gw: InstallmentPorts, merchant_id: str, plan_id: str) -> PlanView:
    """Within the cooling-off period and before any installment is paid: the down payment is
    refunded first, and only then is the plan voided, the financing undone and the device
    released. A refund the bank refuses leaves the plan as it was; a retry after a crash in
    between finds the down payment already refunded and goes on."""
    with gw.db.unit_of_work() as session:
        _cancellable(gw, session, _owned_plan(session, merchant_id, plan_id))
    down = _down_payment(gw, merchant_id, plan_id)
    if down is not None and down.amount_refunded < down.amount_received:
        refunds.create_refund(gw, merchant_id, down.id, None)
    with gw.db.unit_of_work() as session:
        plan = _locked_plan(session, merchant_id, plan_id)
        _cancellable(gw, session, plan)
        rate = session.execute(select(Merchant.discount_rate).where(Merchant.id == plan.merchant_id)).scalar_one()
        ledger.post(session, financing_reversal_entry(
            reference=plan.id, merchant_id=plan.merchant_id, customer_id=plan.customer_id, currency=plan.currency,
            financed=plan.financed, fee=merchant_fee(plan.financed, rate),
        ))
        for item in session.execute(select(Installment).where(Installment.plan_id == plan.id)).scalars():
            item.status = "canceled"
        plan.state, plan.canceled_at = "canceled", gw.clock()
        device_credit.plan_canceled(gw, session, plan)
        events.record(session, plan.merchant_id, "plan.canceled", plan_snapshot(plan), gw.clock())
    log.info("plan %s canceled in cooling-off", plan.id)
    return get_plan(gw, merchant_id, plan.id)


def _cancellable(gw: InstallmentPorts, session: Session, plan: InstallmentPlan) -> None:
    product = session.get(InstallmentProduct, plan.product_id)
    if plan.state != "active":
        raise Conflict("plan_not_active", f"The plan is {plan.state}.", "plan")
    if local_today(gw) > plan.start_date + timedelta(days=product.cooling_off_days):
        raise Conflict("cooling_off_over", f"Plans can be canceled within {product.cooling_off_days} days.", "plan")
    if any(item.paid_principal or item.paid_interest or item.status == "collecting" for item in session.execute(select(Installment).where(Installment.plan_id == plan.id)).scalars()):
        raise Conflict("plan_has_payments", "An installment was already paid; pay the plan off instead.", "plan")


def _down_payment(gw: InstallmentPorts, merchant_id: str, plan_id: str) -> Payment | None:
    with gw.db.unit_of_work() as session:
        plan = _owned_plan(session, merchant_id, plan_id)
        if plan.down_payment_payment_id is None:
            return None
        return session.execute(select(Payment).where(Payment.id == plan.down_payment_payment_id)).scalar_one()


# ---- reading ----------------------------------------------------------------------------------

def get_plan(gw: InstallmentPorts, merchant_id: str, plan_id: str) -> PlanView:
    today = local_today(gw)
    with gw.db.unit_of_work() as session:
        plan = _owned_plan(session, merchant_id, plan_id)
        items = list(session.execute(select(Installment).where(Installment.plan_id == plan.id).order_by(Installment.number)).scalars())
        tokens = list(session.execute(select(DeviceToken).where(DeviceToken.plan_id == plan.id).order_by(DeviceToken.id)).scalars())
    live = [item for item in items if item.status != "canceled"]
    return PlanView(
        plan=PlanRecord.from_row(plan),
        installments=[InstallmentView.from_row(item) for item in items],
        paid=sum(item.paid_principal + item.paid_interest + item.paid_late_fee for item in items),
        due=sum(_owed(item) for item in live if item.due_date <= today),
        overdue=sum(_owed(item) for item in live if item.due_date < today),
        outstanding=sum(_owed(item) for item in live),
        device_tokens=[DeviceTokenView.from_row(token) for token in tokens],
    )


def installment_snapshot(plan: InstallmentPlan, item: Installment) -> dict:
    return {"object": "installment", "plan": plan.id, "number": item.number, "due_date": item.due_date.isoformat(),
            "principal": item.principal, "interest": item.interest, "late_fee": item.late_fee, "status": item.status}


def plan_snapshot(plan: InstallmentPlan) -> dict:
    return {"object": "installment_plan", "id": plan.id, "customer": plan.customer_id, "state": plan.state,
            "delinquency": plan.delinquency, "amount": plan.amount, "financed": plan.financed, "device": plan.device_id}


def local_today(gw: InstallmentPorts) -> date:
    """Due dates are Beijing calendar days."""
    return beijing_date(gw.clock())


def _start_of(day: date) -> datetime:
    """Midnight in Beijing starting `day`, in UTC (SQLite keeps no zone: store UTC everywhere)."""
    return datetime.combine(day, time(0, 0), BEIJING).astimezone(timezone.utc)


def _owed(item: Installment) -> int:
    return _left_of(item).total


def _outstanding(session: Session, customer_id: str) -> int:
    """Principal the customer still owes or is about to owe across open plans. One statement, so
    it sees one snapshot: a plan turning from pending to active meanwhile is counted once."""
    paid = (
        select(Installment.plan_id, func.sum(Installment.paid_principal).label("paid"))
        .group_by(Installment.plan_id)
        .subquery()
    )
    owed = session.execute(
        select(func.coalesce(func.sum(InstallmentPlan.financed - func.coalesce(paid.c.paid, 0)), 0))
        .outerjoin(paid, paid.c.plan_id == InstallmentPlan.id)
        .where(InstallmentPlan.customer_id == customer_id, InstallmentPlan.state.in_(OPEN_STATES))
    ).scalar_one()
    return int(owed)


def _owned_product(session: Session, merchant_id: str, product_id: str) -> InstallmentProduct:
    return owned(session, InstallmentProduct, merchant_id, product_id, "installment product", param="product")


def _owned_plan(session: Session, merchant_id: str, plan_id: str, lock: bool = False) -> InstallmentPlan:
    return owned(session, InstallmentPlan, merchant_id, plan_id, "installment plan", param="plan", lock=lock)


def _locked_plan(session: Session, merchant_id: str, plan_id: str) -> InstallmentPlan:
    return _owned_plan(session, merchant_id, plan_id, lock=True)
