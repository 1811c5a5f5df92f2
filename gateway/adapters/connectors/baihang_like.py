"""A sandbox of a Baihang-like licensed bureau: answers from a hash of the ID number, so the same
person always gets the same report, and keeps the queries it was sent (for tests to inspect)."""
from __future__ import annotations

import hashlib

from gateway.adapters.connectors.bureau import BureauQuery, BureauReport


class BaihangLikeSandbox:
    name = "baihang_like"

    def __init__(self) -> None:
        self.received: list[BureauQuery] = []

    def query(self, request: BureauQuery) -> BureauReport:
        self.received.append(request)
        digest = hashlib.sha256(request.id_number.encode()).digest()
        return BureauReport(
            bureau=self.name, query_id=request.query_id, found=digest[0] % 10 != 0,
            open_loans=digest[1] % 4, overdue_accounts=1 if digest[2] % 5 == 0 else 0, inquiries_90d=digest[3] % 6,
        )
