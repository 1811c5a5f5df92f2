"""The one protocol every credit bureau adapter meets. Only a bureau licensed by the PBOC may
score people for others (Baihang, Pudao); we ask one for its report, with the customer's separate
`credit_bureau` consent, and never send it ours."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class BureauQuery:
    """What a bureau is told: who (as the bureau identifies people) and why. By design there is
    no field for anything of ours (our score, features or limits never leave the platform)."""

    query_id: str
    name: str
    id_number: str
    purpose: str

    def __repr__(self) -> str:  # never let an ID number reach a log line through a repr
        return f"BureauQuery({self.query_id}, id_number=...{self.id_number[-4:]}, purpose={self.purpose!r})"


@dataclass(frozen=True)
class BureauReport:
    bureau: str
    query_id: str
    found: bool
    open_loans: int
    overdue_accounts: int  # accounts 30+ days past due in the last 24 months
    inquiries_90d: int  # other lenders' queries in the last 90 days


class CreditBureau(Protocol):
    name: str

    def query(self, request: BureauQuery) -> BureauReport:
        """The bureau's report on the person; raises BureauUnavailable when it cannot answer."""


class BureauUnavailable(RuntimeError):
    pass
