"""Daily settlement: per merchant, a CSV of every capture and refund booked on one Beijing day
(UTC+8), each with its gross amount, our fee and the net that reaches the merchant, checked
against the merchant's ledger balance.

The rows come from the ledger transactions dated that day that touch `merchant:<id>:payable`:
gross is what moved through the acquirer (the receivable leg), the fee is the fee-revenue leg,
net = gross - fee. The check computes, independently, the merchant's balance at the start and at
the end of the day from the stored account balance less the postings booked since, and requires
sum(net) == closing - opening per currency. Each row is also checked against its payment or
refund (gross equals the captured or refunded amount).
"""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.adapters.db.models import LedgerAccount, LedgerPosting, LedgerTransaction, Payment, Refund
from gateway.domain.clock import BEIJING, as_utc
from gateway.services.ports import TransactionsPort

PAYABLE_PREFIX, PAYABLE_SUFFIX = "merchant:", ":payable"
FEE_ACCOUNT = "platform:fee_revenue"
CSV_COLUMNS = ["booked_at", "kind", "reference", "payment", "currency", "gross", "fee", "net", "ledger_transaction"]


@dataclass(frozen=True)
class SettlementRow:
    booked_at: datetime  # Beijing time
    kind: str  # capture | refund (other kinds that touch the merchant's balance appear as they are)
    reference: str  # the payment id (capture) or refund id (refund)
    payment: str | None
    currency: str
    gross: int
    fee: int
    net: int
    ledger_transaction: int

    def as_csv(self) -> list:
        return [self.booked_at.isoformat(), self.kind, self.reference, self.payment or "", self.currency, self.gross, self.fee, self.net, self.ledger_transaction]


@dataclass
class CurrencyCheck:
    currency: str
    net: int  # sum of the rows
    opening: int  # merchant balance (what we owe) at the start of the day
    closing: int  # ... and at its end

    @property
    def movement(self) -> int:
        return self.closing - self.opening

    @property
    def ok(self) -> bool:
        return self.net == self.movement


@dataclass
class MerchantSettlement:
    merchant_id: str
    day: date
    rows: list[SettlementRow] = field(default_factory=list)
    checks: dict[str, CurrencyCheck] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # rows that disagree with their payment/refund
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and all(check.ok for check in self.checks.values())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The Beijing calendar day as a half-open UTC interval [start, end)."""
    start = datetime.combine(day, time(0), BEIJING)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def settle_day(gw: TransactionsPort, day: date, merchant_ids: list[str] | None = None) -> list[MerchantSettlement]:
    """Every merchant with ledger activity that day (or only the ones named), rows and checks."""
    start, end = day_bounds(day)
    with gw.db.unit_of_work() as session:
        transactions = _day_transactions(session, start, end, merchant_ids)
        settlements: dict[str, MerchantSettlement] = {}
        for merchant_id in sorted({merchant for merchant, _ in transactions} | set(merchant_ids or ())):
            settlements[merchant_id] = MerchantSettlement(merchant_id, day)
        for (merchant_id, tx_id), legs in sorted(transactions.items(), key=lambda item: (item[1]["created_at"], item[0][1])):
            settlements[merchant_id].rows.append(_row(tx_id, legs))
        for settlement in settlements.values():
            _check(session, settlement, start, end)
    return list(settlements.values())


def write_csv(settlement: MerchantSettlement, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"settlement_{settlement.day.isoformat()}_{settlement.merchant_id}.csv"
    partial = path.with_suffix(".csv.partial")
    with partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in settlement.rows:
            writer.writerow(row.as_csv())
    os.replace(partial, path)
    settlement.path = path
    return path


def run(gw: TransactionsPort, day: date, out_dir: Path, merchant_ids: list[str] | None = None,
        advance: Callable[[int], None] | None = None) -> list[MerchantSettlement]:
    """Settle the day and write each merchant's CSV; `advance(1)` hears of each file written."""
    settlements = settle_day(gw, day, merchant_ids)
    for settlement in settlements:
        write_csv(settlement, out_dir)
        if advance is not None:
            advance(1)
    return settlements


# ---- internals ------------------------------------------------------------------------------

def _merchant_of(code: str) -> str | None:
    if code.startswith(PAYABLE_PREFIX) and code.endswith(PAYABLE_SUFFIX):
        return code[len(PAYABLE_PREFIX):-len(PAYABLE_SUFFIX)]
    return None


def _day_transactions(session: Session, start: datetime, end: datetime, merchant_ids: list[str] | None) -> dict[tuple[str, int], dict]:
    """(merchant, transaction id) -> its legs, for the day's transactions touching a payable."""
    payable = LedgerAccount.code.like(f"{PAYABLE_PREFIX}%{PAYABLE_SUFFIX}")
    if merchant_ids:
        payable = LedgerAccount.code.in_([f"{PAYABLE_PREFIX}{m}{PAYABLE_SUFFIX}" for m in merchant_ids])
    touching = (
        select(LedgerPosting.transaction_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(payable, LedgerTransaction.created_at >= start, LedgerTransaction.created_at < end)
    )
    postings = session.execute(
        select(LedgerTransaction.id, LedgerTransaction.kind, LedgerTransaction.reference, LedgerTransaction.created_at, LedgerAccount.code, LedgerAccount.currency, LedgerPosting.amount)
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerTransaction.id.in_(touching))
    ).all()
    by_transaction: dict[int, dict] = {}
    for tx_id, kind, reference, created_at, code, currency, amount in postings:
        legs = by_transaction.setdefault(tx_id, {"kind": kind, "reference": reference, "created_at": as_utc(created_at), "lines": []})
        legs["lines"].append((code, currency, amount))
    result: dict[tuple[str, int], dict] = {}
    for tx_id, legs in by_transaction.items():
        merchants = {_merchant_of(code) for code, _, _ in legs["lines"]} - {None}
        for merchant_id in merchants:
            if merchant_ids and merchant_id not in merchant_ids:
                continue
            result[(merchant_id, tx_id)] = legs
    return result


def _row(tx_id: int, legs: dict) -> SettlementRow:
    currency = next(currency for code, currency, _ in legs["lines"] if _merchant_of(code))
    acquirer = [amount for code, _, amount in legs["lines"] if code.startswith("acquirer:") and code.endswith(":receivable")]
    fee = -sum(amount for code, _, amount in legs["lines"] if code == FEE_ACCOUNT)
    if acquirer:
        gross = sum(acquirer)  # debit on capture, credit on refund
    else:  # a kind without an acquirer leg: what the merchant's account moved, fee included
        gross = -sum(amount for code, _, amount in legs["lines"] if _merchant_of(code)) + fee
    return SettlementRow(
        booked_at=legs["created_at"].astimezone(BEIJING),
        kind=legs["kind"],
        reference=legs["reference"],
        payment=legs["reference"] if legs["kind"] == "capture" else None,
        currency=currency,
        gross=gross,
        fee=fee,
        net=gross - fee,
        ledger_transaction=tx_id,
    )


def _check(session: Session, settlement: MerchantSettlement, start: datetime, end: datetime) -> None:
    code = f"{PAYABLE_PREFIX}{settlement.merchant_id}{PAYABLE_SUFFIX}"
    accounts = session.execute(select(LedgerAccount.id, LedgerAccount.currency, LedgerAccount.balance).where(LedgerAccount.code == code)).all()
    currencies = {row.currency for row in settlement.rows} | {currency for _, currency, _ in accounts}
    nets: dict[str, int] = defaultdict(int)
    for row in settlement.rows:
        nets[row.currency] += row.net
    for account_id, currency, stored in accounts:
        # The payable is a credit-normal account: what we owe is minus its raw balance.
        owed_now = -stored
        opening = owed_now + _posted_since(session, account_id, start)
        closing = owed_now + _posted_since(session, account_id, end)
        if nets.get(currency) or opening != closing:
            settlement.checks[currency] = CurrencyCheck(currency, nets.get(currency, 0), opening, closing)
    for currency in currencies - {currency for _, currency, _ in accounts}:
        settlement.checks[currency] = CurrencyCheck(currency, nets[currency], 0, 0)
    _check_against_objects(session, settlement)


def _posted_since(session: Session, account_id: int, moment: datetime) -> int:
    """Raw sum of the account's postings booked at or after `moment`."""
    return session.execute(
        select(func.coalesce(func.sum(LedgerPosting.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .where(LedgerPosting.account_id == account_id, LedgerTransaction.created_at >= moment)
    ).scalar_one()


def _check_against_objects(session: Session, settlement: MerchantSettlement) -> None:
    """Each row against the payment or refund it books: the money moved is what it says."""
    refund_ids = [row.reference for row in settlement.rows if row.kind == "refund"]
    payment_ids = [row.reference for row in settlement.rows if row.kind == "capture"]
    refunds = {r.id: r for r in session.execute(select(Refund).where(Refund.id.in_(refund_ids))).scalars()} if refund_ids else {}
    payments = {p.id: p for p in session.execute(select(Payment).where(Payment.id.in_(payment_ids))).scalars()} if payment_ids else {}
    for index, row in enumerate(settlement.rows):
        if row.kind == "capture":
            payment = payments.get(row.reference)
            if payment is None or payment.merchant_id != settlement.merchant_id or payment.amount_received != row.gross:
                settlement.problems.append(f"capture {row.reference}: gross {row.gross} does not match the payment's amount received")
        elif row.kind == "refund":
            refund = refunds.get(row.reference)
            if refund is None or refund.merchant_id != settlement.merchant_id or refund.amount != -row.gross:
                settlement.problems.append(f"refund {row.reference}: gross {row.gross} does not match the refund")
            else:
                settlement.rows[index] = replace(row, payment=refund.payment_id)
