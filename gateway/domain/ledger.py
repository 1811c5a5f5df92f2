"""Double-entry bookkeeping rules.

A journal entry is a set of lines; each line debits (positive) or credits (negative) one account
in one currency. An entry balances when, per currency, its lines sum to zero. Accounts have a
normal side: assets grow with debits, liabilities and revenue with credits. Some accounts must
never go below zero on their normal side (money we hold at an acquirer cannot be negative).

A card payment of CNY 100.00 with a 0.6 % fee: the acquirer owes us all of it, we owe the merchant
all but the fee, and the fee is our revenue. The lines sum to zero.

>>> entry = capture_entry(reference="pay_1", merchant_id="mch_1", connector="sandbox_big_four",
...                       currency="CNY", amount=10_000, fee=60)
>>> [(line.account.code, line.amount) for line in entry.lines]
[('acquirer:sandbox_big_four:receivable', 10000), ('merchant:mch_1:payable', -9940), ('platform:fee_revenue', -60)]
>>> sums_by_currency(entry.lines)
{'CNY': 0}
>>> entry.validate()

An entry that does not balance is refused before it reaches the books:

>>> JournalEntry("capture", "pay_2").debit(acquirer_receivable("bank", "CNY"), 10_000).validate()
Traceback (most recent call last):
  ...
gateway.domain.errors.LedgerError: capture pay_2 is off by 10000 in CNY

and so is a posting that would take an account below zero where that is not allowed:

>>> acquirer_receivable("bank", "CNY").check(-1)
Traceback (most recent call last):
  ...
gateway.domain.errors.LedgerError: account acquirer:bank:receivable (CNY) would go negative
>>> merchant_payable("mch_1", "CNY").check(+60)  # a refund after fees: the merchant owes us 60
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

from gateway.domain.errors import LedgerError


class NormalSide(str, Enum):
    DEBIT = "debit"
    CREDIT = "credit"


@dataclass(frozen=True)
class AccountSpec:
    code: str
    currency: str
    normal_side: NormalSide
    may_go_negative: bool

    def normal_balance(self, raw_balance: int) -> int:
        """The balance as its owner reads it: positive means 'has' on the normal side."""
        return raw_balance if self.normal_side is NormalSide.DEBIT else -raw_balance

    def check(self, raw_balance: int) -> None:
        if not self.may_go_negative and self.normal_balance(raw_balance) < 0:
            raise LedgerError(
                "negative_balance",
                f"account {self.code} ({self.currency}) would go negative",
            )


@dataclass(frozen=True)
class Line:
    account: AccountSpec
    amount: int  # > 0 debit, < 0 credit, in minor units of account.currency


@dataclass
class JournalEntry:
    kind: str
    reference: str
    lines: list[Line] = field(default_factory=list)

    def debit(self, account: AccountSpec, amount: int) -> JournalEntry:
        return self._add(account, amount)

    def credit(self, account: AccountSpec, amount: int) -> JournalEntry:
        return self._add(account, -amount)

    def _add(self, account: AccountSpec, signed: int) -> JournalEntry:
        if signed != 0:
            self.lines.append(Line(account, signed))
        return self

    def validate(self) -> None:
        if not self.lines:
            raise LedgerError("empty_entry", f"{self.kind} {self.reference} has no lines")
        for currency, total in sums_by_currency(self.lines).items():
            if total != 0:
                raise LedgerError(
                    "unbalanced_entry",
                    f"{self.kind} {self.reference} is off by {total} in {currency}",
                )


def sums_by_currency(lines: list[Line]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        totals[line.account.currency] += line.amount
    return dict(totals)


# The chart of accounts. Codes name their owner so an operator can read a posting unaided.
def acquirer_receivable(connector: str, currency: str) -> AccountSpec:
    """What the acquiring bank owes us for captured card payments not yet refunded."""
    return AccountSpec(f"acquirer:{connector}:receivable", currency, NormalSide.DEBIT, False)


def merchant_payable_code(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:payable"


def merchant_payable(merchant_id: str, currency: str) -> AccountSpec:
    """What we owe the merchant. It may dip below zero: a full refund after fees were taken."""
    return AccountSpec(merchant_payable_code(merchant_id), currency, NormalSide.CREDIT, True)


def fee_revenue(currency: str) -> AccountSpec:
    return AccountSpec("platform:fee_revenue", currency, NormalSide.CREDIT, False)


def capture_entry(
    *, reference: str, merchant_id: str, connector: str, currency: str, amount: int, fee: int
) -> JournalEntry:
    """Money captured from a card: the acquirer owes it to us, we owe it less our fee."""
    entry = JournalEntry("capture", reference)
    entry.debit(acquirer_receivable(connector, currency), amount)
    entry.credit(merchant_payable(merchant_id, currency), amount - fee)
    entry.credit(fee_revenue(currency), fee)
    return entry


def refund_entry(
    *, reference: str, merchant_id: str, connector: str, currency: str, amount: int
) -> JournalEntry:
    """A refund goes back through the acquirer at the merchant's cost; the fee is kept."""
    entry = JournalEntry("refund", reference)
    entry.debit(merchant_payable(merchant_id, currency), amount)
    entry.credit(acquirer_receivable(connector, currency), amount)
    return entry


# ---- installment plans ------------------------------------------------------------------------

def customer_receivable(customer_id: str, currency: str) -> AccountSpec:
    """What a customer still owes on their installment plans (we paid the merchant for them)."""
    return AccountSpec(f"customer:{customer_id}:installment_receivable", currency, NormalSide.DEBIT, False)


def interest_revenue(currency: str) -> AccountSpec:
    return AccountSpec("platform:interest_revenue", currency, NormalSide.CREDIT, False)


def late_fee_revenue(currency: str) -> AccountSpec:
    return AccountSpec("platform:late_fee_revenue", currency, NormalSide.CREDIT, False)


def financing_entry(*, reference: str, merchant_id: str, customer_id: str, currency: str, financed: int, fee: int) -> JournalEntry:
    """The merchant is paid the financed part of the price at once (less its fee); the customer
    now owes it to us."""
    entry = JournalEntry("installment_financing", reference)
    entry.debit(customer_receivable(customer_id, currency), financed)
    entry.credit(merchant_payable(merchant_id, currency), financed - fee)
    entry.credit(fee_revenue(currency), fee)
    return entry


def financing_reversal_entry(*, reference: str, merchant_id: str, customer_id: str, currency: str, financed: int, fee: int) -> JournalEntry:
    """A plan voided in its cooling-off period: the financing entry undone line by line."""
    entry = JournalEntry("installment_financing_reversal", reference)
    entry.credit(customer_receivable(customer_id, currency), financed)
    entry.debit(merchant_payable(merchant_id, currency), financed - fee)
    entry.debit(fee_revenue(currency), fee)
    return entry


def customer_credit(customer_id: str, currency: str) -> AccountSpec:
    """Money a customer paid beyond what they owed: we owe it back."""
    return AccountSpec(f"customer:{customer_id}:credit", currency, NormalSide.CREDIT, False)


def collection_entry(*, reference: str, connector: str, customer_id: str, currency: str, principal: int, interest: int, late_fee: int, overpaid: int = 0) -> JournalEntry:
    """An installment collected from the customer's card: the bank owes us the money; it repays
    principal and earns us interest and late fees. Nothing goes to the merchant, paid already."""
    entry = JournalEntry("installment_collection", reference)
    entry.debit(acquirer_receivable(connector, currency), principal + interest + late_fee + overpaid)
    entry.credit(customer_receivable(customer_id, currency), principal)
    entry.credit(interest_revenue(currency), interest)
    entry.credit(late_fee_revenue(currency), late_fee)
    entry.credit(customer_credit(customer_id, currency), overpaid)
    return entry


def batch_collection_entry(*, reference: str, connector: str, currency: str, principal_by_customer: dict[str, int], interest: int) -> JournalEntry:
    """A batch of on-time installments collected through one bank in one file: the same lines as
    one collection_entry per installment, summed per account."""
    entry = JournalEntry("installment_collection", reference)
    entry.debit(acquirer_receivable(connector, currency), sum(principal_by_customer.values()) + interest)
    for customer_id, principal in sorted(principal_by_customer.items()):
        entry.credit(customer_receivable(customer_id, currency), principal)
    entry.credit(interest_revenue(currency), interest)
    return entry
