"""Asking a licensed credit bureau for a customer's report: only with their separate
`credit_bureau` consent, for a stated purpose, every query logged. The bureau is told who and
why; nothing of our own score, features or limits is ever sent (BureauQuery has no place for it)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from gateway.adapters.connectors.bureau import BureauQuery, BureauUnavailable
from gateway.adapters.db.credit_models import CreditBureauQuery
from gateway.bootstrap import Gateway
from gateway.domain.consent import ConsentKind
from gateway.domain.errors import DomainError, InvalidRequest
from gateway.domain.ids import new_id
from gateway.services.customers import customer_data_key, owned_customer, require_consent

log = logging.getLogger(__name__)

PURPOSES = ("installment_application", "limit_review")


class BureauError(DomainError):
    status = 503
    type = "api_error"


@dataclass(frozen=True)
class BureauReportView:
    id: str  # the logged query
    customer_id: str
    bureau: str
    purpose: str
    found: bool
    open_loans: int
    overdue_accounts: int
    inquiries_90d: int
    queried_at: datetime


def query_bureau(gw: Gateway, merchant_id: str, customer_id: str, purpose: str) -> BureauReportView:
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
