"""Payment use cases. Each step that changes state is one transaction; the bank is called
between transactions (never while holding locks), with the payment marked `processing` first so
that a crash or a time-out leaves a visible, resolvable state rather than a lost charge."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.adapters.connectors.base import CallbackRejected, CardDetails, ChargeRequest, ConnectorResult, Outcome
from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.models import CardToken, Merchant, Payment
from gateway.domain.banks import bank_by_code
from gateway.domain.errors import CardDeclined, Conflict, DomainError, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.domain.ledger import capture_entry
from gateway.domain.money import Money, MoneyError, merchant_fee
from gateway.domain.payments import CaptureMethod, PaymentStatus, capture_amount, require_transition
from gateway.services.context import Gateway
from gateway.services.saved_cards import chargeable_card
from gateway.services.tokens import card_details

log = logging.getLogger(__name__)


class BankCallbackRejected(DomainError):
    status = 400
    type = "invalid_request_error"


@dataclass(frozen=True)
class PaymentMethod:
    """What pays: a single-use card token (tok_...) or a customer's saved card (card_...)."""

    kind: str  # "card_token" | "saved_card"
    id: str


@dataclass(frozen=True)
class NewPayment:
    amount: int
    currency: str
    payment_method: PaymentMethod
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirm: bool = False
    description: str | None = None
    metadata: dict | None = None


@dataclass(frozen=True)
class _Card:
    """The card behind a payment method, with what the payment row records of it."""

    details: CardDetails
    bank_code: str
    brand: str
    card_token_id: str | None = None
    saved_card_id: str | None = None
    customer_id: str | None = None


def create_payment(gw: Gateway, merchant_id: str, request: NewPayment) -> Payment:
    try:
        Money(request.amount, request.currency)
    except MoneyError as exc:
        raise InvalidRequest("amount_invalid", str(exc), "amount") from exc
    with gw.db.unit_of_work() as session:
        card = _claim_card(gw, session, merchant_id, request.payment_method)
        payment = Payment(
            id=new_id("pay"),
            merchant_id=merchant_id,
            amount=request.amount,
            currency=request.currency,
            status=(PaymentStatus.PROCESSING if request.confirm else PaymentStatus.REQUIRES_CONFIRMATION).value,
            capture_method=request.capture_method.value,
            amount_capturable=0,
            amount_received=0,
            amount_refunded=0,
            card_token_id=card.card_token_id,
            saved_card_id=card.saved_card_id,
            customer_id=card.customer_id,
            card_brand=card.brand,
            card_bank=card.bank_code,
            card_last4=card.details.pan[-4:],
            connector=gw.connector_for_bank(bank_by_code(card.bank_code)).name,
            description=request.description,
            metadata_=request.metadata or {},
        )
        session.add(payment)
    log.info("payment %s created for %s %s %s via %s", payment.id, merchant_id, payment.amount, payment.currency, payment.connector)
    if not request.confirm:
        return payment
    return _authorize(gw, payment, card.details)


def confirm_payment(gw: Gateway, merchant_id: str, payment_id: str) -> Payment:
    with gw.db.unit_of_work() as session:
        payment = locked_payment(session, merchant_id, payment_id)
        require_transition("confirm", payment.status)
        payment.status = PaymentStatus.PROCESSING.value
        if payment.card_token_id:
            details = card_details(gw, session.get(CardToken, payment.card_token_id))
        else:
            details = chargeable_card(gw, session, merchant_id, payment.saved_card_id)[1]
    return _authorize(gw, payment, details)


def _claim_card(gw: Gateway, session: Session, merchant_id: str, method: PaymentMethod) -> _Card:
    if method.kind == "saved_card":
        saved, details = chargeable_card(gw, session, merchant_id, method.id)
        return _Card(details, saved.bank_code, saved.brand, saved_card_id=saved.id, customer_id=saved.customer_id)
    token = _unused_token(session, merchant_id, method.id)
    token.used = True
    return _Card(card_details(gw, token), token.bank_code, token.brand, card_token_id=token.id)


def _authorize(gw: Gateway, payment: Payment, card) -> Payment:
    result = gw.connector(payment.connector).authorize(
        ChargeRequest(
            payment_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
            card=card,
            capture=payment.capture_method == CaptureMethod.AUTOMATIC.value,
        )
    )
    with gw.db.unit_of_work() as session:
        payment = locked_payment(session, payment.merchant_id, payment.id)
        _apply_authorization(session, payment, result)
    return payment


def _apply_authorization(session: Session, payment: Payment, result: ConnectorResult) -> None:
    require_transition("bank_result", payment.status)
    payment.connector_reference = result.reference
    if result.outcome is Outcome.UNKNOWN:
        # Stays processing: reconciliation asks the bank later. Retrying could charge twice.
        log.warning("payment %s: bank outcome unknown, left processing", payment.id)
        return
    if result.outcome is Outcome.PENDING:
        log.info("payment %s accepted by the bank; its answer comes by callback", payment.id)
        return
    if result.outcome is Outcome.DECLINED:
        payment.status = PaymentStatus.FAILED.value
        payment.failure_code = result.decline_code
        payment.failure_message = result.message
        log.info("payment %s declined: %s", payment.id, result.decline_code)
        return
    if payment.capture_method == CaptureMethod.MANUAL.value:
        payment.status = PaymentStatus.REQUIRES_CAPTURE.value
        payment.amount_capturable = payment.amount
    else:
        _book_capture(session, payment, payment.amount)
    log.info("payment %s %s", payment.id, payment.status)


def apply_bank_callback(gw: Gateway, connector_name: str, body: bytes, signature: str) -> Payment:
    """A bank's signed asynchronous answer. Forged, stale or mismatched callbacks change nothing;
    a repeated callback finds the payment already settled and changes nothing either."""
    connector = gw.connectors.get(connector_name)
    if connector is None:
        raise NotFound("bank connector", connector_name)
    try:
        callback = connector.parse_callback(body, signature)
    except CallbackRejected as rejected:
        log.warning("rejected %s callback: %s", connector_name, rejected)
        raise BankCallbackRejected("callback_rejected", f"Callback rejected: {rejected}.") from None
    with gw.db.unit_of_work() as session:
        payment = session.execute(
            select(Payment).where(Payment.id == callback.payment_id, Payment.connector == connector_name).with_for_update()
        ).scalar_one_or_none()
        if payment is None or (payment.amount, payment.currency) != (callback.amount, callback.currency):
            log.warning("rejected %s callback for %s: no such payment or amount mismatch", connector_name, callback.payment_id)
            raise BankCallbackRejected("callback_mismatch", "The callback does not match a payment of this bank.")
        if payment.status == PaymentStatus.PROCESSING.value and callback.result.outcome in (Outcome.APPROVED, Outcome.DECLINED):
            _apply_authorization(session, payment, callback.result)
        else:
            log.info("callback for %s ignored: payment already %s", payment.id, payment.status)
    return payment


def sync_with_bank(gw: Gateway, merchant_id: str, payment_id: str) -> Payment:
    """Ask the bank what happened to a payment still processing (lost answer, late callback)."""
    payment = get_payment(gw, merchant_id, payment_id)
    if payment.status != PaymentStatus.PROCESSING.value:
        return payment
    result = gw.connector(payment.connector).status(payment.id)
    with gw.db.unit_of_work() as session:
        payment = locked_payment(session, merchant_id, payment_id)
        if payment.status == PaymentStatus.PROCESSING.value and result.outcome in (Outcome.APPROVED, Outcome.DECLINED):
            _apply_authorization(session, payment, result)
    return payment


def capture_payment(gw: Gateway, merchant_id: str, payment_id: str, amount_to_capture: int | None) -> Payment:
    # Captures and cancels hold the payment's row lock across the bank call: they are rare,
    # operator-driven calls, and the lifecycle has no intermediate state to park them in.
    with gw.db.unit_of_work() as session:
        payment = locked_payment(session, merchant_id, payment_id)
        require_transition("capture", payment.status)
        amount = capture_amount(amount_to_capture, payment.amount_capturable)
        result = gw.connector(payment.connector).capture(payment.connector_reference, amount, payment.currency)
        _require_approved(result, "capture")
        _book_capture(session, payment, amount)
    log.info("payment %s captured %s of %s", payment.id, amount, payment.amount)
    return payment


def cancel_payment(gw: Gateway, merchant_id: str, payment_id: str) -> Payment:
    with gw.db.unit_of_work() as session:
        payment = locked_payment(session, merchant_id, payment_id)
        require_transition("cancel", payment.status)
        if payment.status == PaymentStatus.REQUIRES_CAPTURE.value:
            _require_approved(gw.connector(payment.connector).void(payment.connector_reference), "void")
        payment.status = PaymentStatus.CANCELED.value
        payment.amount_capturable = 0
    log.info("payment %s canceled", payment.id)
    return payment


def _book_capture(session: Session, payment: Payment, amount: int) -> None:
    """Capture `amount` (the rest of an authorization is released) and post it to the ledger."""
    rate = session.execute(select(Merchant.discount_rate).where(Merchant.id == payment.merchant_id)).scalar_one()
    payment.status = PaymentStatus.SUCCEEDED.value
    payment.amount_received = amount
    payment.amount_capturable = 0
    ledger.post(
        session,
        capture_entry(
            reference=payment.id,
            merchant_id=payment.merchant_id,
            connector=payment.connector,
            currency=payment.currency,
            amount=amount,
            fee=merchant_fee(amount, rate),
        ),
    )


def _require_approved(result: ConnectorResult, action: str) -> None:
    if result.outcome is not Outcome.APPROVED:
        raise CardDeclined(result.decline_code or "processing_error", result.message or f"The bank refused the {action}.")


def get_payment(gw: Gateway, merchant_id: str, payment_id: str) -> Payment:
    with gw.db.unit_of_work() as session:
        return _owned(session, merchant_id, payment_id)


def list_payments(gw: Gateway, merchant_id: str, limit: int, starting_after: str | None) -> tuple[list[Payment], bool]:
    """Newest first. `starting_after` is the id of the last payment of the previous page."""
    with gw.db.unit_of_work() as session:
        query = select(Payment).where(Payment.merchant_id == merchant_id)
        if starting_after:
            cursor = _owned(session, merchant_id, starting_after, param="starting_after")
            query = query.where(Payment.seq < cursor.seq)
        rows = list(session.execute(query.order_by(Payment.seq.desc()).limit(limit + 1)).scalars())
    return rows[:limit], len(rows) > limit


def _owned(session: Session, merchant_id: str, payment_id: str, param: str | None = None, lock: bool = False) -> Payment:
    """Another merchant's payment is reported missing, never forbidden: ids must not leak."""
    query = select(Payment).where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
    if lock:
        query = query.with_for_update()
    payment = session.execute(query).scalar_one_or_none()
    if payment is None:
        raise NotFound("payment", payment_id, param)
    return payment


def locked_payment(session: Session, merchant_id: str, payment_id: str) -> Payment:
    return _owned(session, merchant_id, payment_id, lock=True)


def _unused_token(session: Session, merchant_id: str, token_id: str) -> CardToken:
    token = session.execute(
        select(CardToken).where(CardToken.id == token_id, CardToken.merchant_id == merchant_id).with_for_update()
    ).scalar_one_or_none()
    if token is None:
        raise NotFound("payment method", token_id, "payment_method")
    if token.used:
        raise Conflict("token_already_used", "This card token has already been used for a payment.", "payment_method")
    return token
