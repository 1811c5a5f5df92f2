"""Checkout sessions: what a merchant asks a shopper to pay on the hosted page, completed once
through the ordinary payment, wallet and installment services.

The session id in the page's address is what lets the shopper act on it (as with any hosted
payment page); the merchant reads and creates sessions with its secret key. At most one attempt
is in flight per session: it is claimed under the session's row lock before the bank or wallet
is called, so a double click, a second tab or a reload finds it and waits for its outcome
instead of charging again; a failed attempt frees the session for a retry. A session moves from
open to complete once, and records `checkout.session.completed` in that transaction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.adapters.db.device_models import Device
from gateway.adapters.db.installment_models import InstallmentPlan, InstallmentProduct
from gateway.adapters.db.lookup import owned
from gateway.adapters.db.models import Merchant, Payment
from gateway.adapters.db.web_models import CheckoutSession
from gateway.domain.cards import check_card
from gateway.domain.clock import as_utc
from gateway.domain.consent import ConsentKind
from gateway.domain.errors import Conflict, DomainError, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.domain.money import Money, MoneyError
from gateway.services import customers, events, installment_plans, merchants, payments, saved_cards
from gateway.services.installment_plans import InstallmentPorts

log = logging.getLogger(__name__)


@runtime_checkable
class CheckoutPorts(InstallmentPorts, Protocol):
    """A checkout completes through the payment, wallet, customer and installment use cases, so it
    takes what they take (and the vault seals the page's publishable key)."""


PAYMENT_METHODS = ("card", "wallet", "installments")
DEFAULT_EXPIRES_IN = 30 * 60
EXPIRES_IN_RANGE = (60, 24 * 3600)
# An attempt claimed but never written (its process died before the payment row existed) stops
# holding the session after this long.
ABANDONED_CLAIM = timedelta(seconds=30)
COMPLETED_EVENT = events.CHECKOUT_EVENTS[0]
# Consent texts the hosted page shows on the installments path (PIPL: one per purpose).
IDENTITY_CONSENT = ("checkout-2026-01", "real-name verification for an installment plan")
BANK_CARD_CONSENT = ("checkout-2026-01", "bind and charge this debit card for the plan's installments")


class SessionClosed(DomainError):
    status = 409
    type = "invalid_request_error"


@dataclass(frozen=True)
class LineItem:
    name: str
    amount: int
    quantity: int = 1


@dataclass(frozen=True)
class NewSession:
    line_items: list[LineItem]
    currency: str
    payment_methods: list[str]
    success_url: str
    cancel_url: str
    expires_in: int = DEFAULT_EXPIRES_IN
    installment_product: str | None = None
    confirmation_device: str | None = None


@dataclass(frozen=True)
class Attempt:
    """The shopper's latest try: a payment (card or wallet) or an installment plan."""

    kind: str  # payment | plan
    id: str
    status: str  # the payment's or plan's own status; "starting" before its row exists
    method: str | None = None  # card | wallet | installments
    failure_code: str | None = None
    failure_message: str | None = None
    next_action: dict | None = None

    @property
    def in_flight(self) -> bool:
        return self.status in ("starting", "processing", "requires_action", "requires_confirmation", "pending")

    @property
    def succeeded(self) -> bool:
        return self.status in ("succeeded", "active", "completed")

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "canceled")


@dataclass(frozen=True)
class SessionView:
    id: str
    merchant_id: str
    merchant_name: str
    status: str  # open | complete | expired
    line_items: list[dict]
    amount: int
    currency: str
    payment_methods: list[str]
    installment_product: str | None
    confirmation_device: str | None
    success_url: str
    cancel_url: str
    expires_at: datetime
    created_at: datetime
    completed_at: datetime | None
    payment: str | None
    installment_plan: str | None
    attempt: Attempt | None = None
    # Only for the hosted page (never in the API's answer): the key it tokenizes cards with, and
    # where the shopper is on the installments path.
    publishable_key: str | None = field(default=None, repr=False)
    installments_card: str | None = None
    term_months: int | None = None

    @property
    def return_url(self) -> str:
        """Where the shopper goes back to once the session is complete."""
        return self.success_url.replace("{CHECKOUT_SESSION_ID}", self.id)


# ---- the merchant's side ------------------------------------------------------------------------

def create_session(gw: CheckoutPorts, merchant_id: str, request: NewSession) -> SessionView:
    amount = _checked_total(request.line_items, request.currency)
    methods = _checked_methods(request)
    for param, url in (("success_url", request.success_url), ("cancel_url", request.cancel_url)):
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise InvalidRequest("url_invalid", f"{param} must be an absolute http(s) URL.", param)
    low, high = EXPIRES_IN_RANGE
    if not low <= request.expires_in <= high:
        raise InvalidRequest("expires_in_invalid", f"expires_in must be {low} to {high} seconds.", "expires_in")
    now = as_utc(gw.clock())
    session_id = new_id("cs")
    with gw.db.unit_of_work() as session:
        if request.installment_product:
            product = owned(session, InstallmentProduct, merchant_id, request.installment_product, "installment product", param="installment_product")
            if not product.min_amount <= amount <= product.max_amount:
                raise InvalidRequest("amount_out_of_range", "The total is outside what this installment product finances.", "installment_product")
        if request.confirmation_device:
            device = owned(session, Device, merchant_id, request.confirmation_device, "device", param="confirmation_device")
            if device.state != "active":
                raise InvalidRequest("device_inactive", "The confirmation device is not active.", "confirmation_device")
        key_id, key = merchants.issue_publishable_key(gw, session, merchant_id)
        row = CheckoutSession(
            id=session_id, merchant_id=merchant_id, status="open",
            line_items=[{"name": item.name, "amount": item.amount, "quantity": item.quantity} for item in request.line_items],
            amount=amount, currency=request.currency, payment_methods=methods,
            installment_product_id=request.installment_product, confirmation_device_id=request.confirmation_device,
            success_url=request.success_url, cancel_url=request.cancel_url,
            publishable_key_sealed=gw.vault.encrypt(key.encode(), associated=session_id), publishable_key_id=key_id,
            expires_at=now + timedelta(seconds=request.expires_in), created_at=now,
        )
        session.add(row)
        session.flush()
        view = _view(gw, session, row)
    log.info("checkout session %s created for %s: %s %s", session_id, merchant_id, amount, request.currency)
    return view


def get_session(gw: CheckoutPorts, merchant_id: str, session_id: str) -> SessionView:
    with gw.db.unit_of_work() as session:
        return _view(gw, session, owned(session, CheckoutSession, merchant_id, session_id, "checkout session"))


def _checked_total(items: list[LineItem], currency: str) -> int:
    if not items:
        raise InvalidRequest("line_items_missing", "Give at least one line item.", "line_items")
    try:
        total = sum((Money(item.amount * item.quantity, currency) for item in items), Money(0, currency))
        if any(item.amount <= 0 or item.quantity <= 0 for item in items) or total.amount <= 0:
            raise MoneyError("line item amounts and quantities must be positive")
        Money(total.amount, currency)
    except MoneyError as exc:
        raise InvalidRequest("amount_invalid", str(exc), "line_items") from exc
    return total.amount


def _checked_methods(request: NewSession) -> list[str]:
    methods = list(dict.fromkeys(request.payment_methods))
    if not methods or any(method not in PAYMENT_METHODS for method in methods):
        raise InvalidRequest("payment_methods_invalid", f"payment_methods are among {', '.join(PAYMENT_METHODS)}.", "payment_methods")
    if ("installments" in methods) != bool(request.installment_product):
        raise InvalidRequest("installment_product_invalid", "Installments need an installment_product, and an installment_product needs the installments method.", "installment_product")
    if request.confirmation_device and methods == ["installments"]:
        raise InvalidRequest("confirmation_device_invalid", "A confirmation device approves card payments: offer the card method.", "confirmation_device")
    return methods


# ---- the shopper's side (the hosted page) ----------------------------------------------------

def page_session(gw: CheckoutPorts, session_id: str) -> SessionView:
    """The session as its page shows it, with the outcome of an attempt that settled since."""
    settle(gw, session_id)
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id)
        return _view(gw, session, row, for_page=True)


def pay_with_card(gw: CheckoutPorts, session_id: str, token_id: str) -> SessionView:
    """Pay with a card the page tokenized with the session's publishable key."""
    return _pay(gw, session_id, "card", payments.PaymentMethod("card_token", token_id))


def pay_with_wallet(gw: CheckoutPorts, session_id: str, provider: str) -> SessionView:
    """Open a wallet order: the page shows its QR code until the wallet app confirms."""
    if provider not in gw.wallets:
        raise InvalidRequest("wallet_unsupported", "Choose one of the wallets offered.", "wallet")
    return _pay(gw, session_id, "wallet", payments.PaymentMethod("wallet", provider))


def _pay(gw: CheckoutPorts, session_id: str, method: str, payment_method) -> SessionView:
    payment_id = new_id("pay")
    row = _claim(gw, session_id, method, payment_id=payment_id)
    request = payments.NewPayment(
        amount=row.amount, currency=row.currency, payment_method=payment_method, confirm=True,
        description=_summary(row.line_items), metadata={"checkout_session": row.id},
        confirmation_device=row.confirmation_device_id if method == "card" else None,
    )
    try:
        payments.create_payment(gw, row.merchant_id, request, payment_id=payment_id)
    except DomainError:
        _release(gw, session_id, payment_id)  # nothing was charged: the shopper may try again
        raise
    return page_session(gw, session_id)


def abandon_wallet_order(gw: CheckoutPorts, session_id: str) -> SessionView:
    """The shopper would rather pay another way: close the unpaid wallet order (if the wallet
    says it was paid meanwhile, that stands and completes the session)."""
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id)
        attempt = _attempt(gw, session, row)
    if attempt is not None and attempt.method == "wallet" and attempt.status == "requires_action":
        # Closed at the wallet first, outside our locks, as an expired order is.
        with gw.db.unit_of_work() as session:
            order = session.execute(select(Payment).where(Payment.id == attempt.id)).scalar_one()
        payments.expire_wallet_order(gw, order)
    return page_session(gw, session_id)


def installment_offers(gw: CheckoutPorts, session_id: str) -> list[dict]:
    """Every term the product offers, each with its full schedule, as the shopper sees it
    before agreeing."""
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id)
        if not row.installment_product_id:
            return []
        product = session.get(InstallmentProduct, row.installment_product_id)
        terms = list(product.terms)
    offers = []
    for term in terms:
        quote = installment_plans.quote(gw, row.merchant_id, row.amount, product_id=row.installment_product_id, term_months=term)
        schedule = quote.schedule
        periods = [{"number": p.number, "due_date": p.due_date, "principal": p.principal, "interest": p.interest,
                    "total": p.principal + p.interest} for p in schedule.periods]
        offers.append({
            "term_months": term, "down_payment": quote.down_payment, "financed": schedule.financed,
            "apr": schedule.apr, "first_payment": periods[0]["total"], "periods": periods,
            "cost_of_credit": sum(p["interest"] for p in periods),
            "total": quote.down_payment + sum(p["total"] for p in periods),
        })
    return offers


@dataclass(frozen=True)
class Shopper:
    """What the shopper types on the installments path."""

    name: str
    mobile: str
    id_number: str
    card_number: str
    exp_month: int
    exp_year: int
    cvv: str
    term_months: int
    agreed: bool


def start_installments(gw: CheckoutPorts, session_id: str, shopper: Shopper) -> SessionView:
    """Register the shopper (with their identity and bank-card consents, which the page asks
    for separately) and start binding their card; the bank texts a code to confirm it."""
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id)
        _require_open(gw, row)
        if "installments" not in row.payment_methods:
            raise InvalidRequest("method_unavailable", "This checkout does not offer installments.", "term_months")
        product = session.get(InstallmentProduct, row.installment_product_id)
        if shopper.term_months not in product.terms:
            raise InvalidRequest("term_invalid", "Choose one of the terms shown.", "term_months")
    if not shopper.agreed:
        raise InvalidRequest("agreement_missing", "Tick the box to agree to the schedule and the consents.", "agree")
    # A mistyped card is reported before anyone is registered, so correcting it starts afresh.
    check_card(shopper.card_number, shopper.exp_month, shopper.exp_year, shopper.cvv, gw.clock().date())
    customer_id = row.customer_id
    if customer_id is None:  # a retry on the same page (the bank refused the card) keeps its registration
        customer_id = customers.register_customer(
            gw, row.merchant_id, name=shopper.name, mobile=shopper.mobile, id_number=shopper.id_number,
            identity_consent=customers.ConsentGrant(ConsentKind.IDENTITY, *IDENTITY_CONSENT),
        ).id
        customers.grant_consent(gw, row.merchant_id, customer_id, customers.ConsentGrant(ConsentKind.BANK_CARD, *BANK_CARD_CONSENT))
        with gw.db.unit_of_work() as session:
            _by_id(session, session_id, lock=True).customer_id = customer_id
    card = saved_cards.start_binding(gw, row.merchant_id, customer_id, card_number=shopper.card_number,
                                     exp_month=shopper.exp_month, exp_year=shopper.exp_year, cvv=shopper.cvv)
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id, lock=True)
        row.saved_card_id, row.term_months = card.id, shopper.term_months
    return page_session(gw, session_id)


def confirm_installments(gw: CheckoutPorts, session_id: str, code: str) -> SessionView:
    """The code the bank texted binds the card; then the plan is created (down payment taken)."""
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id)
        if not row.saved_card_id:
            raise InvalidRequest("card_missing", "Enter your details and card first.", "code")
    card_status = saved_cards.list_cards(gw, row.merchant_id, row.customer_id)
    if not any(card.id == row.saved_card_id and card.status == "active" for card in card_status):
        saved_cards.verify_binding(gw, row.merchant_id, row.customer_id, row.saved_card_id, code)
    plan_id = new_id("ipl")
    row = _claim(gw, session_id, "installments", plan_id=plan_id)
    try:
        installment_plans.create_plan(
            gw, row.merchant_id, customer_id=row.customer_id, card_id=row.saved_card_id, product_id=row.installment_product_id,
            term_months=row.term_months, amount=row.amount, plan_id=plan_id,
        )
    except DomainError:
        _release(gw, session_id, plan_id)
        raise
    return page_session(gw, session_id)


def sandbox_sms_code(gw: CheckoutPorts, session_id: str) -> str | None:
    """Test mode only: the code the sandbox bank 'texted' for the card being bound."""
    if not gw.settings.sandbox_endpoints:
        return None
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id)
    if not row.saved_card_id:
        return None
    try:
        return saved_cards.sent_sms_code(gw, row.merchant_id, row.saved_card_id)
    except DomainError:
        return None


# ---- one attempt at a time, one completion -----------------------------------------------------

def _claim(gw: CheckoutPorts, session_id: str, method: str, *, payment_id: str | None = None, plan_id: str | None = None) -> CheckoutSession:
    """Make this attempt the session's only one, or refuse while another is in flight."""
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id, lock=True)
        _require_open(gw, row)
        if method not in row.payment_methods:
            raise InvalidRequest("method_unavailable", "This checkout does not offer this way to pay.", "method")
        current = _attempt(gw, session, row)
        if current is not None and current.in_flight:
            raise Conflict("payment_in_progress", "Your payment is already being processed.", "method")
        if current is not None and current.succeeded:
            raise SessionClosed("checkout_session_complete", "This checkout is already paid.")
        row.attempt_payment_id, row.attempt_plan_id = payment_id, plan_id
        row.attempt_started_at = as_utc(gw.clock())
    return row


def _release(gw: CheckoutPorts, session_id: str, attempt_id: str) -> None:
    """Forget an attempt that charged nothing (its request was refused before any bank call)."""
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id, lock=True)
        if attempt_id in (row.attempt_payment_id, row.attempt_plan_id) and _attempt_row(session, row) is None:
            row.attempt_payment_id = row.attempt_plan_id = row.attempt_started_at = None


def settle(gw: CheckoutPorts, session_id: str) -> None:
    """Complete the session if its attempt succeeded (a wallet notify, a device's approval or a
    bank's callback may have settled it since the page last looked)."""
    with gw.db.unit_of_work() as session:
        row = _by_id(session, session_id)
        attempt = _attempt(gw, session, row)
    if row.status == "open" and attempt is not None and attempt.succeeded:
        with gw.db.unit_of_work() as session:
            _complete(gw, session, _by_id(session, session_id, lock=True))


def payment_settled(gw: CheckoutPorts, session: Session, payment: Payment) -> None:
    """Called by the payments service with the payment's row lock held, when a payment made for
    a checkout session reaches its outcome."""
    if payment.status != "succeeded":
        return
    # Only the session's own attempt completes it: metadata is the merchant's to write, so a
    # payment naming a session (another merchant's, or one it did not start) is ignored.
    row = session.execute(
        select(CheckoutSession).where(CheckoutSession.id == payment.metadata_["checkout_session"],
                                      CheckoutSession.merchant_id == payment.merchant_id,
                                      CheckoutSession.attempt_payment_id == payment.id).with_for_update()
    ).scalar_one_or_none()
    if row is not None:
        _complete(gw, session, row, payment=payment)


def _complete(gw: CheckoutPorts, session: Session, row: CheckoutSession, payment: Payment | None = None) -> None:
    if row.status == "complete":
        return
    now = as_utc(gw.clock())
    if row.attempt_plan_id:
        plan = session.execute(select(InstallmentPlan).where(InstallmentPlan.id == row.attempt_plan_id)).scalar_one()
        row.installment_plan_id, row.payment_id = plan.id, plan.down_payment_payment_id
    else:
        row.payment_id = payment.id if payment is not None else row.attempt_payment_id
    row.status, row.completed_at = "complete", now
    merchants.revoke_key(session, row.publishable_key_id, now)
    session.flush()
    events.record(session, row.merchant_id, COMPLETED_EVENT, session_snapshot(row), now)
    log.info("checkout session %s complete (%s)", row.id, row.installment_plan_id or row.payment_id)


def _attempt(gw: CheckoutPorts, session: Session, row: CheckoutSession) -> Attempt | None:
    if not (row.attempt_payment_id or row.attempt_plan_id):
        return None
    found = _attempt_row(session, row)
    if row.attempt_plan_id:
        if found is None:
            return _starting(gw, row, "plan", row.attempt_plan_id, "installments")
        down = session.execute(select(Payment).where(Payment.id == found.down_payment_payment_id)).scalar_one_or_none() if found.down_payment_payment_id else None
        status = {"canceled": "failed"}.get(found.state, found.state)
        return Attempt("plan", found.id, status, "installments",
                       failure_code=down.failure_code if down is not None else None,
                       failure_message=down.failure_message if down is not None else None)
    method = "card" if row.attempt_payment_id and (found is None or found.wallet_provider is None) else "wallet"
    if found is None:
        return _starting(gw, row, "payment", row.attempt_payment_id, method)
    return Attempt("payment", found.id, found.status, method, found.failure_code, found.failure_message, found.next_action)


def _starting(gw: CheckoutPorts, row: CheckoutSession, kind: str, attempt_id: str, method: str) -> Attempt | None:
    if as_utc(row.attempt_started_at) < as_utc(gw.clock()) - ABANDONED_CLAIM:
        return None  # its process died before writing it: nothing was charged
    return Attempt(kind, attempt_id, "starting", method)


def _attempt_row(session: Session, row: CheckoutSession):
    if row.attempt_plan_id:
        return session.execute(select(InstallmentPlan).where(InstallmentPlan.id == row.attempt_plan_id)).scalar_one_or_none()
    return session.execute(select(Payment).where(Payment.id == row.attempt_payment_id)).scalar_one_or_none()


def _require_open(gw: CheckoutPorts, row: CheckoutSession) -> None:
    if row.status == "complete":
        raise SessionClosed("checkout_session_complete", "This checkout is already paid.")
    if _expired(gw, row):
        raise SessionClosed("checkout_session_expired", "This checkout has expired.")


def _expired(gw: CheckoutPorts, row: CheckoutSession) -> bool:
    return row.status == "open" and as_utc(gw.clock()) >= as_utc(row.expires_at)


def _by_id(session: Session, session_id: str, lock: bool = False) -> CheckoutSession:
    query = select(CheckoutSession).where(CheckoutSession.id == session_id)
    row = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if row is None:
        raise NotFound("checkout session", session_id)
    return row


def _summary(line_items: list[dict]) -> str:
    return ", ".join(f"{item['quantity']} x {item['name']}" if item["quantity"] > 1 else item["name"] for item in line_items)[:500]


def _view(gw: CheckoutPorts, session: Session, row: CheckoutSession, for_page: bool = False) -> SessionView:
    merchant_name = session.execute(select(Merchant.name).where(Merchant.id == row.merchant_id)).scalar_one()
    return SessionView(
        id=row.id, merchant_id=row.merchant_id, merchant_name=merchant_name,
        status="expired" if _expired(gw, row) else row.status,
        line_items=list(row.line_items), amount=row.amount, currency=row.currency, payment_methods=list(row.payment_methods),
        installment_product=row.installment_product_id, confirmation_device=row.confirmation_device_id,
        success_url=row.success_url, cancel_url=row.cancel_url, expires_at=as_utc(row.expires_at),
        created_at=as_utc(row.created_at), completed_at=as_utc(row.completed_at) if row.completed_at else None,
        payment=row.payment_id or row.attempt_payment_id, installment_plan=row.installment_plan_id or row.attempt_plan_id,
        attempt=_attempt(gw, session, row),
        publishable_key=gw.vault.decrypt(row.publishable_key_sealed, associated=row.id).decode() if for_page and row.status == "open" else None,
        installments_card=row.saved_card_id if for_page else None,
        term_months=row.term_months if for_page else None,
    )


def session_snapshot(row: CheckoutSession) -> dict:
    return {
        "object": "checkout.session", "id": row.id, "status": row.status, "amount_total": row.amount,
        "currency": row.currency, "payment": row.payment_id, "installment_plan": row.installment_plan_id,
        "line_items": list(row.line_items),
    }
