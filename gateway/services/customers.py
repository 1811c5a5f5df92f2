"""Customers: real-name registration with the national ID, consents, and erasure."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.adapters.db.models import Consent, Customer, SavedCard
from gateway.adapters.vault import DataKey
from gateway.domain.consent import ConsentKind, ConsentRequired
from gateway.domain.errors import Conflict, InvalidRequest, NotFound
from gateway.domain.identity import check_id_number, mask_mobile, mask_name
from gateway.domain.ids import new_id
from gateway.services.ports import VaultPorts
from gateway.services.read_models import ConsentView, CustomerView

log = logging.getLogger(__name__)

MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class ConsentGrant:
    kind: ConsentKind
    version: str
    purpose: str


def register_customer(gw: VaultPorts, merchant_id: str, *, name: str, mobile: str, id_number: str, identity_consent: ConsentGrant) -> CustomerView:
    if not MOBILE.match(mobile):
        raise InvalidRequest("mobile_invalid", "The mobile number must be 11 digits starting with 1.", "mobile")
    resident = check_id_number(id_number, gw.clock().date())
    customer_id = new_id("cus")
    data_key, wrapped = gw.vault.new_data_key(customer_id)
    customer = Customer(
        id=customer_id,
        merchant_id=merchant_id,
        state="active",
        data_key=wrapped,
        name_sealed=data_key.seal("name", name),
        mobile_sealed=data_key.seal("mobile", mobile),
        id_number_sealed=data_key.seal("id_number", resident.number),
        id_number_hmac=gw.vault.index("id_number", resident.number),
        id_number_masked=resident.masked,
        mobile_masked=mask_mobile(mobile),
        created_at=gw.clock(),
    )
    try:
        with gw.db.unit_of_work() as session:
            session.add(customer)
            session.flush()
            _grant(session, customer_id, identity_consent, gw.clock())
    except IntegrityError:
        # The unique (merchant, ID hash) index decides, so concurrent registrations cannot both win.
        raise Conflict("customer_exists", "A customer with this ID number is already registered.", "id_number") from None
    log.info("customer %s registered for %s (ID %s)", customer_id, merchant_id, resident.masked)
    return _view(customer, data_key)


def get_customer(gw: VaultPorts, merchant_id: str, customer_id: str) -> CustomerView:
    with gw.db.unit_of_work() as session:
        customer = owned_customer(session, merchant_id, customer_id)
    key = gw.vault.data_key(customer.id, customer.data_key) if customer.data_key else None
    return _view(customer, key)


def erase_customer(gw: VaultPorts, merchant_id: str, customer_id: str) -> CustomerView:
    """Crypto-shredding: destroy the customer's data key, so every ciphertext sealed with it (ID,
    name, mobile, saved cards) becomes unreadable; drop the lookup hashes so the ID can register
    again. Payments and ledger entries keep their amounts under the now pseudonymous id."""
    with gw.db.unit_of_work() as session:
        customer = owned_customer(session, merchant_id, customer_id, lock=True)
        _refuse_with_open_plans(session, customer_id)
        customer.state = "erased"
        customer.data_key = None
        customer.id_number_hmac = None
        customer.id_number_masked = None
        customer.mobile_masked = None
        customer.erased_at = gw.clock()
        session.execute(
            update(SavedCard).where(SavedCard.customer_id == customer_id).values(status="disabled", pan_hmac=None)
        )
        # Nothing more may be processed for them: every consent ends (so their devices' telemetry
        # is no longer kept), and the usage data already kept is dropped.
        session.execute(update(Consent).where(Consent.customer_id == customer_id, Consent.withdrawn_at.is_(None)).values(withdrawn_at=gw.clock()))
        _forget_devices(session, customer_id)
    log.info("customer %s erased", customer_id)
    return _view(customer, None)


def _refuse_with_open_plans(session: Session, customer_id: str) -> None:
    from gateway.adapters.db.installment_models import InstallmentPlan

    if session.execute(select(InstallmentPlan.id).where(InstallmentPlan.customer_id == customer_id, InstallmentPlan.state.in_(("pending", "active")))).first():
        raise Conflict("customer_has_open_plans", "The customer still owes on an installment plan; erase them once it is settled.", "customer")


def _forget_devices(session: Session, customer_id: str) -> None:
    from gateway.adapters.db.device_models import Device, DeviceMessage

    owned = select(Device.id).where(Device.owner_customer_id == customer_id)
    session.execute(update(DeviceMessage).where(DeviceMessage.device_id.in_(owned)).values(body=None))


# ---- consents ---------------------------------------------------------------------------------

def grant_consent(gw: VaultPorts, merchant_id: str, customer_id: str, grant: ConsentGrant) -> ConsentView:
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id, lock=True, active=True)
        return ConsentView.from_row(_grant(session, customer_id, grant, gw.clock()))


def withdraw_consent(gw: VaultPorts, merchant_id: str, customer_id: str, kind: ConsentKind) -> ConsentView:
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id, lock=True)
        current = _current(session, customer_id, kind)
        if current is None:
            raise Conflict("consent_not_given", f"There is no active '{kind.value}' consent to withdraw.", "kind")
        current.withdrawn_at = gw.clock()
    log.info("customer %s withdrew %s consent", customer_id, kind.value)
    return ConsentView.from_row(current)


def list_consents(gw: VaultPorts, merchant_id: str, customer_id: str) -> list[ConsentView]:
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id)
        rows = session.execute(select(Consent).where(Consent.customer_id == customer_id).order_by(Consent.granted_at, Consent.id)).scalars()
        return [ConsentView.from_row(row) for row in rows]


def require_consent(session: Session, customer_id: str, *kinds: ConsentKind) -> None:
    for kind in kinds:
        if _current(session, customer_id, kind) is None:
            raise ConsentRequired(kind)


def has_consent(session: Session, customer_id: str, kind: ConsentKind) -> bool:
    return _current(session, customer_id, kind) is not None


def _grant(session: Session, customer_id: str, grant: ConsentGrant, now) -> Consent:
    current = _current(session, customer_id, grant.kind)
    if current is not None:
        current.withdrawn_at = now  # a new version replaces the old grant; both stay on record
    consent = Consent(id=new_id("cns"), customer_id=customer_id, kind=grant.kind.value, purpose=grant.purpose, version=grant.version, granted_at=now)
    session.add(consent)
    session.flush()
    return consent


def _current(session: Session, customer_id: str, kind: ConsentKind) -> Consent | None:
    return session.execute(
        select(Consent).where(Consent.customer_id == customer_id, Consent.kind == kind.value, Consent.withdrawn_at.is_(None))
    ).scalar_one_or_none()


# ---- lookups -----------------------------------------------------------------------------------

def owned_customer(session: Session, merchant_id: str, customer_id: str, *, lock: bool = False, active: bool = False) -> Customer:
    query = select(Customer).where(Customer.id == customer_id, Customer.merchant_id == merchant_id)
    if lock:
        query = query.with_for_update()
    customer = session.execute(query).scalar_one_or_none()
    if customer is None:
        raise NotFound("customer", customer_id, "customer")
    if active and customer.state != "active":
        raise Conflict("customer_erased", "This customer has been erased.", "customer")
    return customer


def customer_data_key(gw: VaultPorts, customer: Customer) -> DataKey:
    return gw.vault.data_key(customer.id, customer.data_key)


def _view(customer: Customer, key: DataKey | None) -> CustomerView:
    """No endpoint returns personal data in clear, so no stored response (idempotency replays)
    holds any either: the name too is shown masked."""
    name = mask_name(key.open("name", customer.name_sealed)) if key and customer.name_sealed else None
    return CustomerView(customer.id, customer.state, name, customer.mobile_masked, customer.id_number_masked, customer.created_at)
