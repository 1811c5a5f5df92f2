"""Payment use cases. Each step that changes state is one transaction; the bank or wallet is
called between transactions (never while holding locks), with the payment marked `processing`
first so that a crash or a time-out leaves a visible, resolvable state rather than a lost charge.
Every change a merchant hears about records its event in the same transaction."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.adapters.connectors.base import CallbackRejected, CardDetails, ChargeRequest, ConnectorResult
from gateway.adapters.db.device_models import Device
from gateway.adapters.db.models import CardToken, Merchant, Payment, WalletNotification
from gateway.adapters.db.upsert import insert_if_absent
from gateway.adapters.db.lookup import owned
from gateway.domain.banks import bank_by_code
from gateway.domain.errors import CardDeclined, Conflict, DomainError, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.domain.ledger import capture_entry
from gateway.domain.money import Money, MoneyError, merchant_fee
from gateway.domain.payments import (
    CaptureMethod, Funds, Outcome, PaymentStatus, capture_amount, decide_outcome, require_transition,
)
from gateway.domain.reconciliation import next_reconcile_delay
from gateway.services import device_confirmations, idempotency
from gateway.services.idempotency import KeyClaim, KeyTaken, Resume, StoredResponse
from gateway.services.ports import BankPorts, PaymentSettled, PaymentStore, SettingsPort
from gateway.services.read_models import PaymentView
from gateway.services.tokens import card_details

log = logging.getLogger(__name__)


@runtime_checkable
class PaymentPorts(BankPorts, SettingsPort, Protocol):
    """What the payment use cases take: transactions, the clock, the vault (to read the card),
    the banks and wallets, their rows, and who hears that a plan's, a fund purchase's or a checkout
    session's payment settled."""

    payment_store: Callable[[Session], PaymentStore]
    payment_settled: PaymentSettled
    fund_purchase_settled: PaymentSettled
    checkout_payment_settled: PaymentSettled


class CallbackRefused(DomainError):
    status = 400
    type = "invalid_request_error"


@dataclass(frozen=True)
class PaymentMethod:
    """What pays: a single-use card token (tok_...), a customer's saved card (card_...), or a
    wallet provider (the shopper pays in the wallet app)."""

    kind: str  # "card_token" | "saved_card" | "wallet"
    id: str  # token id, saved card id, or wallet provider name


@dataclass(frozen=True)
class NewPayment:
    amount: int
    currency: str
    payment_method: PaymentMethod
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirm: bool = False
    description: str | None = None
    metadata: dict | None = None
    # Set by installment plans: what the money is for, and which plan it belongs to.
    purpose: str = "charge"
    installment_plan_id: str | None = None
    # The buyer's device that must approve the payment (signed over MQTT) before the bank sees it.
    confirmation_device: str | None = None


@dataclass(frozen=True)
class _Source:
    """The card or wallet behind a payment method, and what the payment row records of it."""

    connector: str
    card: CardDetails | None = None
    columns: dict | None = None


def create_payment(gw: PaymentPorts, merchant_id: str, request: NewPayment, payment_id: str | None = None,
                   fee_rate: Decimal | None = None) -> PaymentView:
    """`fee_rate`: the merchant's, when the caller already read it (with the API key)."""
    return _create(gw, merchant_id, request, payment_id, fee_rate)


def create_payment_once(gw: PaymentPorts, merchant_id: str, request: NewPayment, key: KeyClaim,
                        fee_rate: Decimal | None = None) -> tuple[StoredResponse, bool]:
    """`create_payment` under an Idempotency-Key, and whether the answer is a replay. The key is
    claimed in the transaction that creates the payment (its recovery point 'payment created'
    commits with it) and its response stored in the one that settles it. A retry finding the key
    held waits for it; finding its process dead (lease expired) it takes the key over: it runs
    the payment from scratch if none was created, else asks the bank what became of it and
    finishes it (`finish_payment`). Never a second charge."""
    owned = False
    while True:
        created: list[str] = []
        try:
            view = _create(gw, merchant_id, request, None, fee_rate, key, owned, created)
            return key.render(view), False
        except KeyTaken:
            found = idempotency.claim(gw, merchant_id, key.key, key.fingerprint, resumable=True)
        except DomainError as refused:
            if created:  # after the payment was committed: the key stays with it, a retry finishes it
                raise
            # nothing was created (the transaction rolled back): the refusal is the key's answer
            found = None if owned else idempotency.claim(gw, merchant_id, key.key, key.fingerprint, resumable=True)
            if found is None:
                response = key.render_error(refused)
                idempotency.complete(gw, merchant_id, key.key, response)
                return response, False
        if isinstance(found, StoredResponse):
            return found, True
        if isinstance(found, Resume):
            return key.render(finish_payment(gw, merchant_id, found.payment_id, key)), False
        owned = True  # the key is ours (a dead request's, taken over before it created anything)


def finish_payment(gw: PaymentPorts, merchant_id: str, payment_id: str, key: KeyClaim) -> PaymentView:
    """Finish a payment whose process died after creating it, for the request that took over its
    key: if it is still processing, its bank may or may not have been asked, so ask the bank what
    became of it (a bank with no record of it declines it) and apply that; then store the key's
    response with it."""
    with gw.db.unit_of_work() as session:
        payment = gw.payment_store(session).owned(merchant_id, payment_id)
    answer = None
    if payment.status == PaymentStatus.PROCESSING.value:
        try:
            answer = gw.connector(payment.connector).status(payment.id)
        except Exception:  # unknown: the payment stays processing for reconciliation
            log.exception("payment %s: %s status query failed while resuming", payment.id, payment.connector)
            answer = ConnectorResult(Outcome.UNKNOWN)
    log.info("payment %s resumed after its process died: %s", payment.id, answer.outcome.value if answer else payment.status)
    with gw.db.unit_of_work() as session:
        payment = gw.payment_store(session).owned(merchant_id, payment_id, lock=True)
        if answer is not None:
            apply_result(gw, session, payment, answer)
        view = PaymentView.from_row(payment)
        idempotency.complete_in(session, merchant_id, key.key, key.render(view))
    return view


def _create(gw: PaymentPorts, merchant_id: str, request: NewPayment, payment_id: str | None, fee_rate: Decimal | None,
            key: KeyClaim | None = None, owned: bool = False, created: list[str] | None = None) -> PaymentView:
    """`created` is given the payment's id once its first transaction is committed."""
    try:
        Money(request.amount, request.currency)
    except MoneyError as exc:
        raise InvalidRequest("amount_invalid", str(exc), "amount") from exc
    if request.confirmation_device and not request.confirm:
        raise InvalidRequest("confirmation_needs_confirm", "A device confirmation is asked for when the payment is confirmed: send confirm: true.", "confirmation")
    if request.payment_method.kind == "wallet" and request.capture_method is CaptureMethod.MANUAL:
        raise InvalidRequest("capture_method_unsupported", "Wallet payments are captured when paid.", "capture_method")
    payment_id = payment_id or new_id("pay")
    with gw.db.unit_of_work() as session:
        if key is not None:  # first: a duplicate request waits here for this one's commit
            idempotency.claim_for_payment(session, gw, key, payment_id, owned)
        source = _claim_source(gw, session, merchant_id, request.payment_method)
        payment = Payment(
            id=payment_id,
            merchant_id=merchant_id,
            amount=request.amount,
            currency=request.currency,
            status=(PaymentStatus.PROCESSING if request.confirm else PaymentStatus.REQUIRES_CONFIRMATION).value,
            next_reconcile_at=_reconcile_if_lost(gw) if request.confirm else None,
            capture_method=request.capture_method.value,
            amount_capturable=0,
            amount_received=0,
            amount_refunded=0,
            reconcile_attempts=0,
            purpose=request.purpose,
            installment_plan_id=request.installment_plan_id,
            connector=source.connector,
            description=request.description,
            metadata_=request.metadata or {},
            created_at=gw.clock(),
            updated_at=gw.clock(),
            **(source.columns or {}),
        )
        if request.confirm and request.confirmation_device:
            _ask_device(gw, session, payment, request.confirmation_device)
        gw.payment_store(session).add(payment)
        fault_point("creating_payment")
    if created is not None:
        created.append(payment.id)
    log.info("payment %s created for %s %s %s via %s", payment.id, merchant_id, payment.amount, payment.currency, payment.connector)
    if not request.confirm or payment.status == PaymentStatus.REQUIRES_ACTION.value:
        view = PaymentView.from_row(payment)
        if key is not None:
            idempotency.complete(gw, merchant_id, key.key, key.render(view))
        return view
    fault_point("payment_created")
    return PaymentView.from_row(_authorize(gw, payment, source.card, key, fee_rate))


def fault_point(step: str) -> None:
    """Test-only fault injection: the process dies here (as under `kill -9`) when
    PAYGATE_FAULT_AT names this step. Read only by gateways serving the sandbox endpoints
    (the composition root arms it: `arm_faults`)."""
    if _armed_fault == step:
        os._exit(137)


_armed_fault: str | None = None


def arm_faults(step: str | None) -> None:
    global _armed_fault
    _armed_fault = step


def _ask_device(gw: PaymentPorts, session: Session, payment: Payment, device_id: str) -> None:
    """Park the payment until the buyer's device signs its approval; the request is queued for
    the device in the same transaction."""
    device = session.get(Device, device_id)
    if device is None or device.merchant_id != payment.merchant_id:
        raise NotFound("device", device_id, "confirmation.device")
    merchant_name = session.execute(select(Merchant.name).where(Merchant.id == payment.merchant_id)).scalar_one()
    nonce = device_confirmations.request_confirmation(gw, payment.id, device_id, payment.amount, payment.currency, merchant_name, session=session)
    confirmation = device_confirmations.get_pending(session, nonce)
    payment.status = PaymentStatus.REQUIRES_ACTION.value
    payment.next_action = {"type": "device_confirmation", "device": device_id, "expires_at": int(confirmation.expires_at.timestamp())}


def device_answered(gw: PaymentPorts, payment_id: str, approved: bool, reason: str) -> Payment | None:
    """The buyer's device approved (the payment goes to its bank) or declined or let it expire
    (the payment fails). A repeated answer changes nothing."""
    with gw.db.unit_of_work() as session:
        payment = gw.payment_store(session).locked(payment_id)
        waiting = payment is not None and payment.status == PaymentStatus.REQUIRES_ACTION.value and (payment.next_action or {}).get("type") == "device_confirmation"
        if not waiting:
            return payment
        payment.next_action = None
        if not approved:
            payment.status = PaymentStatus.FAILED.value
            payment.failure_code = "confirmation_expired" if reason == "expired" else "device_declined"
            payment.failure_message = "The buyer's device did not approve the payment."
            gw.payment_store(session).payment_changed(payment, gw.clock())
            log.info("payment %s not approved on its device (%s)", payment.id, reason)
            return payment
        payment.status = PaymentStatus.PROCESSING.value
        payment.next_reconcile_at = _reconcile_if_lost(gw)
        card = _card_of(gw, session, payment)
    log.info("payment %s approved on its device", payment.id)
    return _authorize(gw, payment, card)


def confirm_payment(gw: PaymentPorts, merchant_id: str, payment_id: str) -> PaymentView:
    with gw.db.unit_of_work() as session:
        payment = gw.payment_store(session).owned(merchant_id, payment_id, lock=True)
        require_transition("confirm", payment.status)
        payment.status = PaymentStatus.PROCESSING.value
        payment.next_reconcile_at = _reconcile_if_lost(gw)
        card = _card_of(gw, session, payment)
    return PaymentView.from_row(_authorize(gw, payment, card))


def _card_of(gw: PaymentPorts, session: Session, payment: Payment) -> CardDetails | None:
    if payment.card_token_id:
        return card_details(gw, gw.payment_store(session).card_token(payment.card_token_id))
    if payment.saved_card_id:
        return gw.payment_store(session).chargeable_card(payment.merchant_id, payment.saved_card_id)[1]
    return None  # a wallet order


def _claim_source(gw: PaymentPorts, session: Session, merchant_id: str, method: PaymentMethod) -> _Source:
    if method.kind == "wallet":
        if method.id not in gw.wallets:
            raise InvalidRequest("wallet_unsupported", f"Unknown wallet provider {method.id!r}; use one of {', '.join(sorted(gw.wallets))}.", "payment_method.provider")
        return _Source(gw.wallets[method.id].name, columns={"wallet_provider": method.id})
    if method.kind == "saved_card":
        saved, card = gw.payment_store(session).chargeable_card(merchant_id, method.id)
        columns = {"saved_card_id": saved.id, "customer_id": saved.customer_id, "card_brand": saved.brand, "card_bank": saved.bank_code}
    else:
        token = _claim_token(gw.payment_store(session), merchant_id, method.id)
        card = card_details(gw, token)
        columns = {"card_token_id": token.id, "card_brand": token.brand, "card_bank": token.bank_code}
    connector = gw.connector_for_bank(bank_by_code(columns["card_bank"])).name
    return _Source(connector, card, {**columns, "card_last4": card.pan[-4:]})


def _claim_token(store: PaymentStore, merchant_id: str, token_id: str) -> CardToken:
    """A card token pays once: marked used in one statement, which a concurrent payment with
    the same token waits for and then finds nothing to mark."""
    token = store.spend_card_token(merchant_id, token_id)
    if token is not None:
        return token
    if store.merchants_card_token(merchant_id, token_id) is None:
        raise NotFound("payment method", token_id, "payment_method")
    raise Conflict("token_already_used", "This card token has already been used for a payment.", "payment_method")


# ---- scheduled collections in bulk (installment plans) -----------------------------------------

def installment_debit_row(gw: PaymentPorts, payment_id: str, plan, amount: int, number: int, card: tuple) -> tuple[dict, CardDetails]:
    """The payments row (table columns) of one installment debit of a batch, handed to its bank
    (processing, reconcilable if its answer is never recorded), and the card it charges."""
    saved, details = card
    row = {
        "id": payment_id, "merchant_id": plan.merchant_id, "amount": amount, "currency": plan.currency,
        "status": PaymentStatus.PROCESSING.value, "capture_method": CaptureMethod.AUTOMATIC.value,
        "amount_capturable": 0, "amount_received": 0, "amount_refunded": 0, "reconcile_attempts": 0,
        "purpose": "installment", "installment_plan_id": plan.id, "saved_card_id": saved.id, "customer_id": saved.customer_id,
        "card_brand": saved.brand, "card_bank": saved.bank_code, "card_last4": details.pan[-4:],
        "connector": gw.connector_for_bank(bank_by_code(saved.bank_code)).name,
        "description": f"installment {number} of plan {plan.id}", "metadata": {"installment": str(number)},
        "next_reconcile_at": _reconcile_if_lost(gw), "created_at": gw.clock(), "updated_at": gw.clock(),
    }
    return row, details


def charge_request(row: dict, card: CardDetails) -> ChargeRequest:
    return ChargeRequest(payment_id=row["id"], amount=row["amount"], currency=row["currency"], card=card, capture=True, description=row["description"])


def record_result(gw: PaymentPorts, merchant_id: str, payment_id: str, result: ConnectorResult) -> Payment:
    """What the bank said about a payment it was handed in a batch, recorded as for any payment."""
    with gw.db.unit_of_work() as session:
        payment = gw.payment_store(session).owned(merchant_id, payment_id, lock=True)
        apply_result(gw, session, payment, result)
    return payment


def _reconcile_if_lost(gw: PaymentPorts):
    """Set when a payment is handed to its bank: should the answer never be recorded (the
    process dies, the connector fails), reconciliation asks the bank from then on."""
    return gw.clock() + next_reconcile_delay(0)


def _authorize(gw: PaymentPorts, payment: Payment, card: CardDetails | None, key: KeyClaim | None = None,
               fee_rate: Decimal | None = None) -> Payment:
    """Hand the payment (committed as processing) to its bank, then record the answer, and the
    key's response, in one transaction."""
    request = ChargeRequest(
        payment_id=payment.id,
        amount=payment.amount,
        currency=payment.currency,
        card=card,
        capture=payment.capture_method == CaptureMethod.AUTOMATIC.value,
        description=payment.description,
    )
    try:
        result = gw.connector(payment.connector).authorize(request)
    except Exception:  # a connector failure is an unknown outcome, never a reason to charge again
        log.exception("payment %s: %s failed; outcome unknown, left for reconciliation", payment.id, payment.connector)
        result = ConnectorResult(Outcome.UNKNOWN)
    fault_point("bank_answered")
    if _settled_at_once(gw, payment, result, key, fee_rate):
        return payment
    with gw.db.unit_of_work() as session:
        payment = gw.payment_store(session).owned(payment.merchant_id, payment.id, lock=True)
        apply_result(gw, session, payment, result)
        if key is not None:
            idempotency.complete_in(session, payment.merchant_id, key.key, key.render(PaymentView.from_row(payment)))
    return payment


class _MovedMeanwhile(Exception):
    """The payment was no longer processing when its answer was to be written."""


def _settled_at_once(gw: PaymentPorts, payment: Payment, result: ConnectorResult, key: KeyClaim | None,
                     fee_rate: Decimal | None) -> bool:
    """The common case without a read-back: a final answer for a payment this request created,
    written with one guarded UPDATE (if it is still processing) in the transaction that books it.
    False, with nothing written, when the answer is not final or the payment moved meanwhile
    (a callback or reconciliation): the caller then takes the row lock and looks again."""
    decision = decide_outcome(PaymentStatus(payment.status), result.outcome, CaptureMethod(payment.capture_method), payment.purpose)
    if decision is None or not decision.final or payment.installment_plan_id:
        return False

    def write(settled: Payment, session: Session) -> None:
        key_response = None if key is None else (key.key, key.render(PaymentView.from_row(settled)))
        if not gw.payment_store(session).settle_processing(settled, gw.clock(), key_response):
            raise _MovedMeanwhile(settled.id)

    try:
        with gw.db.unit_of_work() as session:
            apply_result(gw, session, payment, result, write=write, fee_rate=fee_rate)
    except _MovedMeanwhile:
        return False
    fault_point("settled")
    return True


def apply_result(gw: PaymentPorts, session: Session, payment: Payment, result: ConnectorResult,
                 write: Callable[[Payment, Session], None] | None = None, fee_rate: Decimal | None = None) -> None:
    """Move a payment awaiting its outcome on by what its bank or wallet said: the domain decides
    (`decide_outcome`), this carries it out (the row, the ledger, the merchant's event, the plan).
    Called with the payment's row lock held; a settled payment stays as it is (answers repeat).
    `write`: how a final outcome of a payment not attached to the session is written (it may
    refuse); the ledger is posted after it, last, as its balance rows are shared by every
    payment and stay locked until the commit."""
    decision = decide_outcome(payment.status, result.outcome, payment.capture_method, payment.purpose)
    if decision is None:
        log.info("payment %s already %s; %s answer ignored", payment.id, payment.status, result.outcome.value)
        return
    payment.connector_reference = result.reference or payment.connector_reference
    payment.status = decision.status.value
    if decision.status is PaymentStatus.REQUIRES_ACTION:
        payment.next_action = result.action
        payment.action_expires_at = result.expires_at
        return
    if not decision.final:
        if result.outcome is Outcome.UNKNOWN:
            log.warning("payment %s: outcome unknown, left processing for reconciliation", payment.id)
        if payment.next_reconcile_at is None:
            payment.next_reconcile_at = _reconcile_if_lost(gw)
        return
    payment.next_reconcile_at = None
    payment.next_action = None
    store = gw.payment_store(session)
    if decision.status is PaymentStatus.FAILED:
        payment.failure_code = result.decline_code
        payment.failure_message = result.message
        log.info("payment %s declined: %s", payment.id, result.decline_code)
    if decision.funds is Funds.HELD:
        payment.amount_capturable = payment.amount
    elif decision.funds in (Funds.FOR_PLAN, Funds.FOR_FUND):  # the plan or the fund books it
        payment.amount_received = payment.amount
    elif decision.funds is Funds.SOLD:
        _capture_amounts(payment, payment.amount)
    store.payment_changed(payment, gw.clock())
    if write is not None:
        write(payment, session)
    if decision.funds is Funds.SOLD:
        _post_capture(store, payment, payment.amount, fee_rate)
    log.info("payment %s %s", payment.id, payment.status)
    if payment.purpose == "fund_purchase":
        gw.fund_purchase_settled(session, payment)
    if payment.installment_plan_id:
        gw.payment_settled(session, payment)
    if (payment.metadata_ or {}).get("checkout_session"):
        gw.checkout_payment_settled(session, payment)


def apply_callback(gw: PaymentPorts, connector_name: str, body: bytes, headers: Mapping[str, str]) -> PaymentView:
    """A bank's or wallet's signed asynchronous word. Forged, stale, replayed or mismatched
    callbacks change nothing (and are logged); a repeated one finds the payment settled."""
    connector = gw.connectors.get(connector_name)
    if connector is None:
        raise NotFound("connector", connector_name)
    try:
        notice = connector.parse_callback(body, headers)
    except CallbackRejected as rejected:
        log.warning("rejected %s callback: %s", connector_name, rejected)
        raise CallbackRefused("callback_rejected", f"Callback rejected: {rejected}.") from None
    with gw.db.unit_of_work() as session:
        payment = session.execute(
            select(Payment).where(Payment.id == notice.payment_id, Payment.connector == connector_name).with_for_update()
        ).scalar_one_or_none()
        if payment is None or (payment.amount, payment.currency) != (notice.amount, notice.currency):
            log.warning("rejected %s callback for %s: no such payment or amount mismatch", connector_name, notice.payment_id)
            raise CallbackRefused("callback_mismatch", "The callback does not match a payment of this connector.")
        if notice.notify_id is not None:
            fresh = insert_if_absent(
                session, WalletNotification, ["provider", "notify_id"],
                provider=connector_name, notify_id=notice.notify_id, payment_id=payment.id, received_at=gw.clock(),
            )
            if not fresh:
                log.warning("rejected %s notify %s: replayed", connector_name, notice.notify_id)
                raise CallbackRefused("callback_replayed", "This notification was already received.")
        apply_result(gw, session, payment, notice.result)
    return PaymentView.from_row(payment)


def capture_payment(gw: PaymentPorts, merchant_id: str, payment_id: str, amount_to_capture: int | None) -> PaymentView:
    # Captures and cancels hold the payment's row lock across the bank call: they are rare,
    # operator-driven calls, and the lifecycle has no intermediate state to park them in.
    with gw.db.unit_of_work() as session:
        store = gw.payment_store(session)
        payment = store.owned(merchant_id, payment_id, lock=True)
        require_transition("capture", payment.status)
        amount = capture_amount(amount_to_capture, payment.amount_capturable)
        result = gw.connector(payment.connector).capture(payment.connector_reference, amount, payment.currency)
        _require_approved(result, "capture")
        _book_capture(store, payment, amount)
        store.payment_changed(payment, gw.clock())
    log.info("payment %s captured %s of %s", payment.id, amount, payment.amount)
    return PaymentView.from_row(payment)


def cancel_payment(gw: PaymentPorts, merchant_id: str, payment_id: str) -> PaymentView:
    with gw.db.unit_of_work() as session:
        store = gw.payment_store(session)
        payment = store.owned(merchant_id, payment_id, lock=True)
        require_transition("cancel", payment.status)
        if payment.status in (PaymentStatus.REQUIRES_CAPTURE.value, PaymentStatus.REQUIRES_ACTION.value):
            _require_approved(gw.connector(payment.connector).void(payment.id, payment.connector_reference), "cancel")
        _mark_canceled(gw, store, payment)
    log.info("payment %s canceled", payment.id)
    return PaymentView.from_row(payment)


def expire_wallet_order(gw: PaymentPorts, payment: Payment) -> Payment:
    """An unpaid wallet order past its expiry: close it at the provider and cancel the payment.
    If the shopper paid at the last moment the provider refuses to close it, and what the
    provider says the order became is what the payment becomes."""
    connector = gw.connector(payment.connector)
    closed = connector.void(payment.id, payment.connector_reference).outcome is Outcome.APPROVED
    answer = None if closed else connector.status(payment.id)
    with gw.db.unit_of_work() as session:
        store = gw.payment_store(session)
        payment = store.owned(payment.merchant_id, payment.id, lock=True)
        if payment.status not in (PaymentStatus.REQUIRES_ACTION.value, PaymentStatus.PROCESSING.value):
            return payment
        if closed:
            payment.failure_code = "order_expired"
            _mark_canceled(gw, store, payment)
        elif answer.outcome in (Outcome.APPROVED, Outcome.DECLINED):
            apply_result(gw, session, payment, answer)
    log.info("wallet order %s expired: %s", payment.id, payment.status)
    return payment


def _mark_canceled(gw: PaymentPorts, store: PaymentStore, payment: Payment) -> None:
    payment.status = PaymentStatus.CANCELED.value
    payment.amount_capturable = 0
    payment.next_action = None
    payment.next_reconcile_at = None
    store.payment_changed(payment, gw.clock())


def _book_capture(store: PaymentStore, payment: Payment, amount: int) -> None:
    """Capture `amount` (the rest of an authorization is released) and post it to the ledger."""
    _capture_amounts(payment, amount)
    _post_capture(store, payment, amount)


def _capture_amounts(payment: Payment, amount: int) -> None:
    payment.status = PaymentStatus.SUCCEEDED.value
    payment.amount_received = amount
    payment.amount_capturable = 0


def _post_capture(store: PaymentStore, payment: Payment, amount: int, fee_rate: Decimal | None = None) -> None:
    """`fee_rate`: the merchant's, if the caller read it already."""
    rate = store.discount_rate(payment.merchant_id) if fee_rate is None else fee_rate
    store.post(
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


def get_payment(gw: PaymentPorts, merchant_id: str, payment_id: str) -> PaymentView:
    with gw.db.unit_of_work() as session:
        return PaymentView.from_row(_owned(session, merchant_id, payment_id))


def list_payments(gw: PaymentPorts, merchant_id: str, limit: int, starting_after: str | None) -> tuple[list[PaymentView], bool]:
    """Newest first. `starting_after` is the id of the last payment of the previous page."""
    with gw.db.unit_of_work() as session:
        query = select(Payment).where(Payment.merchant_id == merchant_id)
        if starting_after:
            cursor = _owned(session, merchant_id, starting_after, param="starting_after")
            query = query.where(Payment.seq < cursor.seq)
        rows = list(session.execute(query.order_by(Payment.seq.desc()).limit(limit + 1)).scalars())
    return [PaymentView.from_row(row) for row in rows[:limit]], len(rows) > limit


def _owned(session: Session, merchant_id: str, payment_id: str, param: str | None = None, lock: bool = False) -> Payment:
    return owned(session, Payment, merchant_id, payment_id, "payment", param=param, lock=lock)


def locked_payment(session: Session, merchant_id: str, payment_id: str) -> Payment:
    return _owned(session, merchant_id, payment_id, lock=True)
