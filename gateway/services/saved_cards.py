"""Binding a customer's debit card: the bank texts a code to the card holder's mobile, the
customer types it back, and the card is saved. Five wrong codes lock the binding."""
from __future__ import annotations

import json
import logging

from sqlalchemy import select

from gateway.adapters.connectors.base import CardDetails, Outcome
from gateway.adapters.db.models import Consent, Customer, SavedCard
from gateway.domain.banks import bank_by_code
from gateway.domain.cards import check_card, mask_pan
from gateway.domain.consent import ConsentKind
from gateway.domain.errors import CardDeclined, Conflict, DomainError, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.services.ports import BankPorts
from gateway.services.customers import customer_data_key, owned_customer, require_consent
from gateway.services.read_models import SavedCardView

log = logging.getLogger(__name__)

MAX_CODE_ATTEMPTS = 5


class CardBindingFailed(DomainError):
    status = 402
    type = "card_error"


def start_binding(gw: BankPorts, merchant_id: str, customer_id: str, *, card_number: str, exp_month: int, exp_year: int, cvv: str) -> SavedCardView:
    card = check_card(card_number, exp_month, exp_year, cvv, gw.clock().date())
    with gw.db.unit_of_work() as session:
        customer = owned_customer(session, merchant_id, customer_id, active=True)
        require_consent(session, customer_id, ConsentKind.IDENTITY, ConsentKind.BANK_CARD)
        pan_hmac = gw.vault.index("pan", card.pan)
        if session.execute(
            select(SavedCard.id).where(SavedCard.customer_id == customer_id, SavedCard.pan_hmac == pan_hmac, SavedCard.status == "active")
        ).first():
            raise Conflict("card_already_bound", "This card is already saved for the customer.", "card_number")
        key = customer_data_key(gw, customer)
        name, mobile = key.open("name", customer.name_sealed), key.open("mobile", customer.mobile_sealed)
    card_id = new_id("card")
    result = gw.connector_for_bank(card.bank).start_binding(card_id, CardDetails(card.pan, exp_month, exp_year, name), mobile)
    if result.outcome is not Outcome.APPROVED:
        raise CardBindingFailed(result.decline_code or "binding_refused", result.message or "The bank refused to bind the card.", "card_number")
    saved = SavedCard(
        id=card_id,
        customer_id=customer_id,
        merchant_id=merchant_id,
        status="pending_verification",
        brand=card.brand,
        bank_code=card.bank.code,
        last4=card.last4,
        masked_number=mask_pan(card.pan),
        exp_month=exp_month,
        exp_year=exp_year,
        card_sealed=key.seal(f"card:{card_id}", json.dumps({"pan": card.pan, "holder_name": name})),
        pan_hmac=pan_hmac,
        binding_reference=result.reference,
        failed_attempts=0,
        created_at=gw.clock(),
    )
    with gw.db.unit_of_work() as session:
        session.add(saved)
    log.info("card %s (%s %s) binding started for %s", card_id, card.bank.code, saved.masked_number, customer_id)
    return SavedCardView.from_row(saved)


def verify_binding(gw: BankPorts, merchant_id: str, customer_id: str, card_id: str, code: str) -> SavedCardView:
    if not (isinstance(code, str) and code.isdigit() and len(code) == 6):
        raise InvalidRequest("code_invalid", "The verification code is 6 digits.", "code")
    # An attempt is counted before the bank sees the code, so parallel guesses cannot get more
    # than MAX_CODE_ATTEMPTS tries between them; a right code gives its attempt back.
    with gw.db.unit_of_work() as session:
        saved = _pending_card(session, merchant_id, customer_id, card_id)
        saved.failed_attempts += 1
    result = gw.connector_for_bank(bank_by_code(saved.bank_code)).confirm_binding(saved.binding_reference, code)
    with gw.db.unit_of_work() as session:
        saved = _pending_card(session, merchant_id, customer_id, card_id, counting=False)
        if result.outcome is Outcome.APPROVED:
            saved.status, saved.verified_at = "active", gw.clock()
            saved.failed_attempts -= 1
            log.info("card %s bound for %s", card_id, customer_id)
            return SavedCardView.from_row(saved)
        left = MAX_CODE_ATTEMPTS - saved.failed_attempts
        if left <= 0:
            saved.status = "locked"
    # Raised after the commit: a wrong code must count even though the request fails.
    log.info("card %s: wrong binding code (%d attempts)", card_id, saved.failed_attempts)
    if left <= 0:
        raise Conflict("card_binding_locked", "Too many wrong codes: the binding is locked.", "code")
    raise CardDeclined(result.decline_code or "incorrect_code", f"{result.message} {left} attempt(s) left.", "code")


def _pending_card(session, merchant_id: str, customer_id: str, card_id: str, counting: bool = True) -> SavedCard:
    saved = _owned_card(session, merchant_id, customer_id, card_id, lock=True)
    if saved.status == "locked" or (counting and saved.failed_attempts >= MAX_CODE_ATTEMPTS):
        raise Conflict("card_binding_locked", "Too many wrong codes: start the binding again.", "code")
    if saved.status != "pending_verification":
        raise Conflict("card_not_pending", f"The card is {saved.status}, not waiting for a code.", "card")
    return saved


def list_cards(gw: BankPorts, merchant_id: str, customer_id: str) -> list[SavedCardView]:
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id)
        rows = session.execute(select(SavedCard).where(SavedCard.customer_id == customer_id).order_by(SavedCard.seq)).scalars()
        return [SavedCardView.from_row(row) for row in rows]


def sent_sms_code(gw: BankPorts, merchant_id: str, card_id: str) -> str:
    """Test mode: read the code the sandbox bank texted for a binding."""
    with gw.db.unit_of_work() as session:
        saved = session.execute(select(SavedCard).where(SavedCard.id == card_id, SavedCard.merchant_id == merchant_id)).scalar_one_or_none()
    if saved is None or saved.binding_reference is None:
        raise NotFound("card", card_id)
    return gw.connector_for_bank(bank_by_code(saved.bank_code)).sent_sms_code(saved.binding_reference)


def chargeable_card(gw: BankPorts, session, merchant_id: str, card_id: str) -> tuple[SavedCard, CardDetails]:
    """A saved card ready to charge: active, its customer not erased and still consenting."""
    saved = session.execute(select(SavedCard).where(SavedCard.id == card_id, SavedCard.merchant_id == merchant_id)).scalar_one_or_none()
    if saved is None:
        raise NotFound("card", card_id, "payment_method.card")
    if saved.status != "active":
        raise Conflict("card_not_active", f"The saved card is {saved.status}.", "payment_method.card")
    customer = session.execute(select(Customer).where(Customer.id == saved.customer_id)).scalar_one()
    require_consent(session, customer.id, ConsentKind.BANK_CARD)
    return saved, _opened(saved, customer_data_key(gw, customer))


def chargeable_cards(gw: BankPorts, session, card_ids: set[str]) -> tuple[dict[str, tuple[SavedCard, CardDetails]], set[str]]:
    """`chargeable_card` for a batch (scheduled collections): the cards ready to charge, and the
    ids of those that are not (inactive, customer erased or no longer consenting)."""
    saved_cards = {card.id: card for card in session.execute(select(SavedCard).where(SavedCard.id.in_(card_ids))).scalars()}
    customer_ids = {card.customer_id for card in saved_cards.values()}
    customers = {customer.id: customer for customer in session.execute(select(Customer).where(Customer.id.in_(customer_ids))).scalars()}
    consenting = set(session.execute(
        select(Consent.customer_id).where(Consent.customer_id.in_(customer_ids), Consent.kind == ConsentKind.BANK_CARD.value, Consent.withdrawn_at.is_(None))
    ).scalars())
    keys: dict[str, object] = {}
    ready = {}
    for card_id, card in saved_cards.items():
        customer = customers[card.customer_id]
        if card.status != "active" or customer.state != "active" or customer.id not in consenting:
            continue
        key = keys.setdefault(customer.id, customer_data_key(gw, customer))  # unwrapped once per customer
        ready[card_id] = (card, _opened(card, key))
    return ready, set(card_ids) - set(ready)


def _opened(saved: SavedCard, key) -> CardDetails:
    secret = json.loads(key.open(f"card:{saved.id}", saved.card_sealed))
    return CardDetails(secret["pan"], saved.exp_month, saved.exp_year, secret["holder_name"])


def _owned_card(session, merchant_id: str, customer_id: str, card_id: str, lock: bool = False) -> SavedCard:
    query = select(SavedCard).where(SavedCard.id == card_id, SavedCard.customer_id == customer_id, SavedCard.merchant_id == merchant_id)
    if lock:
        query = query.with_for_update()
    saved = session.execute(query).scalar_one_or_none()
    if saved is None:
        raise NotFound("card", card_id, "card")
    return saved
