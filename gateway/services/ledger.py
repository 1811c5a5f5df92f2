"""Reading the ledger: merchant balances and the integrity check behind `paygate ledger verify`."""
from __future__ import annotations

from dataclasses import dataclass, field

from gateway.adapters.db import ledger_repository as ledger
from gateway.domain.ledger import merchant_payable_code
from gateway.domain.money import SUPPORTED_CURRENCIES
from gateway.services.ports import TransactionsPort


def merchant_balance(gw: TransactionsPort, merchant_id: str) -> dict[str, int]:
    """What the gateway owes the merchant, per currency (zero for currencies never used)."""
    with gw.db.unit_of_work() as session:
        balances = ledger.normal_balances(session, merchant_payable_code(merchant_id))
    return {currency: balances.get(currency, 0) for currency in SUPPORTED_CURRENCIES} | balances


@dataclass
class VerifyReport:
    transactions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(gw: TransactionsPort) -> VerifyReport:
    report = VerifyReport()
    with gw.db.unit_of_work() as session:
        report.transactions = ledger.transaction_count(session)
        for tx_id, kind, reference, currency, total in ledger.unbalanced_transactions(session):
            report.problems.append(f"transaction {tx_id} ({kind} {reference}) does not balance in {currency}: off by {total}")
        for code, currency, stored, posted in ledger.drifted_accounts(session):
            report.problems.append(f"account {code} {currency}: balance {stored} but postings sum to {posted}")
        for code, currency, normal in ledger.negative_accounts(session):
            report.problems.append(f"account {code} {currency} must not be negative but is {normal}")
    return report
