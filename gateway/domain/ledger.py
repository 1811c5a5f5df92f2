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


# Installments paid from a money-market fund go through a payment whose "connector" names the fund.
FUND_SOURCE_PREFIX = "fund:"


def collection_source(connector: str, currency: str) -> AccountSpec:
    """Where collected money comes from: the card's acquirer, or the customer's fund units
    (redeemed for the installment: we owe them less)."""
    if connector.startswith(FUND_SOURCE_PREFIX):
        return fund_holdings(connector.removeprefix(FUND_SOURCE_PREFIX), currency)
    return acquirer_receivable(connector, currency)


def collection_entry(*, reference: str, connector: str, customer_id: str, currency: str, principal: int, interest: int, late_fee: int, overpaid: int = 0) -> JournalEntry:
    """An installment collected from the customer's card: the bank owes us the money; it repays
    principal and earns us interest and late fees. Nothing goes to the merchant, paid already.
    Collected from their fund instead, their holding pays it."""
    entry = JournalEntry("installment_collection", reference)
    entry.debit(collection_source(connector, currency), principal + interest + late_fee + overpaid)
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


# ---- money-market fund (Huoqibao) --------------------------------------------------------------
# One unit is CNY 1.00 and units are kept in hundredths, so unit amounts post as fen. Accounts are
# per fund (not per holder): the holdings table keeps each customer's share, and
# `paygate ledger verify` checks that the holdings add up to the fund's holdings account.

def fund_holdings(fund_id: str, currency: str = "CNY") -> AccountSpec:
    """What the fund's units held by customers are worth: we owe it to them."""
    return AccountSpec(f"fund:{fund_id}:holdings", currency, NormalSide.CREDIT, False)


def fund_subscriptions_in_transit(fund_id: str, currency: str = "CNY") -> AccountSpec:
    """Money taken from customers' cards for units not yet confirmed."""
    return AccountSpec(f"fund:{fund_id}:subscriptions_in_transit", currency, NormalSide.CREDIT, False)


def fund_redemptions_payable(fund_id: str, currency: str = "CNY") -> AccountSpec:
    """Units redeemed whose money has not reached the customer's card yet."""
    return AccountSpec(f"fund:{fund_id}:redemptions_payable", currency, NormalSide.CREDIT, False)


def fund_fast_redemption_advance(fund_id: str, currency: str = "CNY") -> AccountSpec:
    """What the partner bank advanced to customers' cards for fast redemptions (until the
    manager's redemption money repays it)."""
    return AccountSpec(f"fund:{fund_id}:fast_redemption_advance", currency, NormalSide.CREDIT, False)


def fund_income_payable(fund_id: str, currency: str = "CNY") -> AccountSpec:
    """Income credited to holders of a monthly-carryover fund, not yet turned into units."""
    return AccountSpec(f"fund:{fund_id}:income_payable", currency, NormalSide.CREDIT, False)


def fund_rounding(fund_id: str, currency: str = "CNY") -> AccountSpec:
    """The fen of declared income that rounding holders' income down left over."""
    return AccountSpec(f"fund:{fund_id}:rounding", currency, NormalSide.CREDIT, False)


def fund_manager_position(fund_id: str, currency: str = "CNY") -> AccountSpec:
    """Our position with the fund manager: money invested plus income declared, less
    redemptions paid. It may dip below zero for a day: a normal redemption is paid on the next
    trading day, before the manager's settlement of it is booked."""
    return AccountSpec(f"fund:{fund_id}:manager_position", currency, NormalSide.DEBIT, True)


def fund_subscription_paid_entry(*, reference: str, fund_id: str, connector: str, amount: int) -> JournalEntry:
    """A subscription's card debit succeeded: the acquirer owes us the money, held in transit."""
    entry = JournalEntry("fund_subscription", reference)
    entry.debit(acquirer_receivable(connector, "CNY"), amount)
    entry.credit(fund_subscriptions_in_transit(fund_id), amount)
    return entry


def fund_subscription_confirmed_entry(*, reference: str, fund_id: str, connector: str, amount: int) -> JournalEntry:
    """Units confirmed: the money goes from the acquirer to the fund manager, and the customer
    now holds units instead of money in transit."""
    entry = JournalEntry("fund_confirmation", reference)
    entry.debit(fund_subscriptions_in_transit(fund_id), amount)
    entry.credit(fund_holdings(fund_id), amount)
    entry.debit(fund_manager_position(fund_id), amount)
    entry.credit(acquirer_receivable(connector, "CNY"), amount)
    return entry


def fund_redeemed_entry(*, reference: str, fund_id: str, amount: int) -> JournalEntry:
    """Units redeemed: they stop being the customer's holding; their money is payable."""
    entry = JournalEntry("fund_redemption", reference)
    entry.debit(fund_holdings(fund_id), amount)
    entry.credit(fund_redemptions_payable(fund_id), amount)
    return entry


def fund_redemption_restored_entry(*, reference: str, fund_id: str, amount: int) -> JournalEntry:
    """The payout failed: the customer holds the units again."""
    entry = JournalEntry("fund_redemption_restored", reference)
    entry.debit(fund_redemptions_payable(fund_id), amount)
    entry.credit(fund_holdings(fund_id), amount)
    return entry


def fund_redemption_paid_entry(*, reference: str, fund_id: str, amount: int, fast: bool) -> JournalEntry:
    """The money reached the card: advanced by the partner bank (fast), or out of the manager's
    redemption proceeds (normal)."""
    entry = JournalEntry("fund_payout", reference)
    entry.debit(fund_redemptions_payable(fund_id), amount)
    if fast:
        entry.credit(fund_fast_redemption_advance(fund_id), amount)
    else:
        entry.credit(fund_manager_position(fund_id), amount)
    return entry


def fund_advance_repaid_entry(*, reference: str, fund_id: str, amount: int) -> JournalEntry:
    """The manager settled fast redemptions (next trading day): the partner bank is repaid."""
    entry = JournalEntry("fund_advance_repaid", reference)
    entry.debit(fund_fast_redemption_advance(fund_id), amount)
    entry.credit(fund_manager_position(fund_id), amount)
    return entry


def fund_income_entry(*, reference: str, fund_id: str, declared: int, credited: int, remainder: int, converted: int, monthly: bool) -> JournalEntry:
    """One fund-day's income, aggregated over all holders: the manager declared it, holders were
    credited (as units, or accrued with monthly carryover), rounding kept the rest. Monthly
    funds also turn the accrued income into units on the month's first trading day."""
    if declared != credited + remainder:
        raise LedgerError("unbalanced_entry", f"income {reference}: declared {declared} != credited {credited} + remainder {remainder}")
    entry = JournalEntry("fund_income", reference)
    entry._add(fund_manager_position(fund_id), declared)
    entry._add(fund_income_payable(fund_id) if monthly else fund_holdings(fund_id), -credited)
    entry._add(fund_rounding(fund_id), -remainder)
    if converted:
        entry.debit(fund_income_payable(fund_id), converted)
        entry.credit(fund_holdings(fund_id), converted)
    return entry
