"""Asking a licensed credit bureau for a customer's report: only with their separate
`credit_bureau` consent, for a stated purpose, every query logged. The bureau is told who and
why; nothing of our own score, features or limits is ever sent (BureauQuery has no place for it)."""
from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from gateway.adapters.connectors.bureau import BureauQuery, BureauUnavailable, CreditBureau
from gateway.adapters.db.credit_models import CreditBureauQuery
from gateway.domain.consent import ConsentKind
from gateway.domain.errors import DomainError, InvalidRequest
from gateway.domain.ids import new_id
from gateway.services.customers import customer_data_key, owned_customer, require_consent
from gateway.services.ports import VaultPorts
from gateway.services.read_models import BureauReportView

log = logging.getLogger(__name__)

PURPOSES = ("installment_application", "limit_review")


@runtime_checkable
class BureauPorts(VaultPorts, Protocol):
    """Bureau queries open the customer's sealed name and ID, and ask the licensed bureau."""

    credit_bureau: CreditBureau


class BureauError(DomainError):
    status = 503
    type = "api_error"


def query_bureau(gw: BureauPorts, merchant_id: str, customer_id: str, purpose: str) -> BureauReportView:
    if purpose not in PURPOSES:
        raise InvalidRequest("parameter_invalid", f"purpose must be one of {', '.join(PURPOSES)}.", "purpose")
    query_id = new_id("cbq")
    with gw.db.unit_of_work() as session:
        customer = owned_customer(session, merchant_id, customer_id, active=True)
        require_consent(session, customer_id, ConsentKind.CREDIT_BUREAU)
        key = customer_data_key(gw, customer)
        request = BureauQuery(query_id, key.open("name", customer.name_sealed), key.open("id_number", customer.id_number_sealed), purpose)
    bureau = gw.credit_bureau
    try:
        report = bureau.query(request)
        outcome = "found" if report.found else "not_found"
    except BureauUnavailable as exc:
        report, outcome = None, "unavailable"
        log.warning("bureau %s unavailable for query %s: %s", bureau.name, query_id, exc)
    now = gw.clock()
    with gw.db.unit_of_work() as session:  # logged whatever the answer
        session.add(CreditBureauQuery(id=query_id, merchant_id=merchant_id, customer_id=customer_id, bureau=bureau.name, purpose=purpose,
                                      outcome=outcome, queried_at=now))
    if report is None:
        raise BureauError("bureau_unavailable", "The credit bureau did not answer; try again later.")
    return BureauReportView(query_id, customer_id, bureau.name, purpose, report.found, report.open_loans, report.overdue_accounts,
                            report.inquiries_90d, now)
