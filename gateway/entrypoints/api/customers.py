"""/v1/customers: registration with the national ID, consents, erasure, and saved cards (bind,
verify by SMS code, list)."""
from __future__ import annotations

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.idempotency import idempotent
from gateway.entrypoints.api.schemas import (
    ConsentCreate,
    ConsentList,
    ConsentOut,
    CustomerCreate,
    CustomerOut,
    SavedCardCreate,
    SavedCardList,
    SavedCardOut,
    SavedCardVerify,
)
from gateway.domain.consent import ConsentKind
from gateway.services import customers, saved_cards

blp = ApiBlueprint("customers", __name__, url_prefix="/v1/customers", description="Customers, consents and saved cards.")


@blp.before_request
def _authenticate() -> None:
    require_key()


def _grant(body: dict, kind: ConsentKind) -> customers.ConsentGrant:
    return customers.ConsentGrant(kind, body["version"], body["purpose"])


@blp.route("", methods=["POST"])
@idempotent
@blp.arguments(CustomerCreate)
@blp.response(200, CustomerOut)
def register(body):
    """Register a customer with their resident ID number (adults only; one per ID per merchant)."""
    return customers.register_customer(
        gateway(),
        principal().merchant_id,
        name=body["name"],
        mobile=body["mobile"],
        id_number=body["id_number"],
        identity_consent=_grant(body["identity_consent"], ConsentKind.IDENTITY),
    )


@blp.route("/<customer_id>", methods=["GET"])
@blp.response(200, CustomerOut)
def get_customer(customer_id):
    return customers.get_customer(gateway(), principal().merchant_id, customer_id)


@blp.route("/<customer_id>", methods=["DELETE"])
@blp.response(200, CustomerOut)
def erase_customer(customer_id):
    """Erase a customer: their data key is destroyed, so their ID, name, mobile and saved cards
    become unreadable; payments and the ledger keep amounts under the pseudonymous id."""
    return customers.erase_customer(gateway(), principal().merchant_id, customer_id)


@blp.route("/<customer_id>/consents", methods=["POST"])
@blp.arguments(ConsentCreate)
@blp.response(200, ConsentOut)
def grant_consent(body, customer_id):
    """Record a consent (identity, bank_card or device_usage) with its purpose and text version."""
    return customers.grant_consent(gateway(), principal().merchant_id, customer_id, _grant(body, ConsentKind(body["kind"])))


@blp.route("/<customer_id>/consents", methods=["GET"])
@blp.response(200, ConsentList)
def list_consents(customer_id):
    """Every consent the customer gave, withdrawn ones included."""
    return {"data": customers.list_consents(gateway(), principal().merchant_id, customer_id)}


@blp.route("/<customer_id>/consents/<any(identity, bank_card, device_usage):kind>/withdraw", methods=["POST"])
@blp.response(200, ConsentOut)
def withdraw_consent(customer_id, kind):
    """Withdraw a consent: the processing it covered stops from now on."""
    return customers.withdraw_consent(gateway(), principal().merchant_id, customer_id, ConsentKind(kind))


@blp.route("/<customer_id>/cards", methods=["POST"])
@idempotent
@blp.arguments(SavedCardCreate)
@blp.response(200, SavedCardOut)
def start_card_binding(body, customer_id):
    """Start saving a debit card (needs identity and bank_card consent): the bank texts a code."""
    return saved_cards.start_binding(gateway(), principal().merchant_id, customer_id, **body)


@blp.route("/<customer_id>/cards", methods=["GET"])
@blp.response(200, SavedCardList)
def list_cards(customer_id):
    return {"data": saved_cards.list_cards(gateway(), principal().merchant_id, customer_id)}


@blp.route("/<customer_id>/cards/<card_id>/verify", methods=["POST"])
@blp.arguments(SavedCardVerify)
@blp.response(200, SavedCardOut)
def verify_card_binding(body, customer_id, card_id):
    """Finish binding with the bank's 6-digit code; five wrong codes lock the binding."""
    return saved_cards.verify_binding(gateway(), principal().merchant_id, customer_id, card_id, body["code"])
