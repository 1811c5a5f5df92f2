"""The simulator behind the sandbox bank connectors. Each sandbox family module (big_four,
joint_stock, postal_comms) configures one of these the way its real banks behave: whether they
answer at once or by signed callback, when they close for maintenance, and (per bank) their
quick-pay limits. The simulated banks keep their own books in sandbox_* tables, so status
queries, callbacks and daily limits work across processes.

Test cards, by last four digits, for every bank: 0002 declined insufficient_funds, 0069 declined
expired_card, 0119 the bank takes the money but its answer is lost (time-out), 0127 the bank never
learns the outcome either (status queries stay unknown: reconciliation flags it for an operator);
any other card is approved (within the bank's limits).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time as clock_time, timedelta, timezone

from sqlalchemy import bindparam, func, insert, select

from gateway.adapters.connectors.base import CallbackRejected, CardDetails, ChargeRequest, ConnectorResult, Notification, Outcome, PayoutRequest
from gateway.adapters.db.engine import Database
from gateway.adapters.db.models import SandboxBankTransaction, SandboxCardBinding
from gateway.domain.banks import bank_for_card
from gateway.domain.clock import BEIJING, as_utc
from gateway.domain.ids import new_id


CALLBACK_TOLERANCE = timedelta(minutes=5)
SMS_CODE_LIFETIME = timedelta(minutes=5)

TEST_CARD_OUTCOMES = {
    "0002": (Outcome.DECLINED, "insufficient_funds"),
    "0069": (Outcome.DECLINED, "expired_card"),
    "0119": (Outcome.UNKNOWN, None),
    "0127": (Outcome.UNKNOWN, "never_resolves"),
}

# Payouts credit the card: a lack of funds does not apply, an expired card does.
PAYOUT_TEST_CARD_OUTCOMES = {code: outcome for code, outcome in TEST_CARD_OUTCOMES.items() if code != "0002"}
# The most one credit push may carry (banks split larger transfers; a fund redemption above it is
# refused by the bank and the units are given back).
PAYOUT_LIMIT = 100_000_000

DECLINE_MESSAGES = {
    "insufficient_funds": "The card has insufficient funds to complete the purchase.",
    "expired_card": "The bank reports the card as expired.",
    "amount_over_limit": "The amount is over the bank's quick-pay limit for this card.",
    "bank_unavailable": "The bank is closed for maintenance; try again later.",
    "incorrect_code": "The verification code is not correct.",
    "code_expired": "The verification code has expired.",
    "bank_no_record": "The bank has no record of this payment.",
}


@dataclass(frozen=True)
class MaintenanceWindow:
    """Daily closing time in Beijing time; a window may run past midnight."""

    start: clock_time
    end: clock_time

    def covers(self, moment: datetime) -> bool:
        local = as_utc(moment).astimezone(BEIJING).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


_SPENT_TODAY = (  # built once: each debit sends it
    select(SandboxBankTransaction.card_fingerprint, func.sum(SandboxBankTransaction.amount))
    .where(SandboxBankTransaction.card_fingerprint.in_(bindparam("fingerprints", expanding=True)),
           SandboxBankTransaction.bank_date == bindparam("bank_date"), SandboxBankTransaction.kind == "debit",
           SandboxBankTransaction.outcome == Outcome.APPROVED.value)
    .group_by(SandboxBankTransaction.card_fingerprint)
)


class SandboxAcquirer:
    name: str
    answers_by_callback: bool
    maintenance: MaintenanceWindow

    def __init__(self, db: Database, clock: Callable[[], datetime], secret: bytes, latency_ms: int = 0) -> None:
        self.db, self.clock, self.secret = db, clock, secret
        self.latency_s = latency_ms / 1000

    # ---- debits ---------------------------------------------------------------------------

    def authorize(self, request: ChargeRequest) -> ConnectorResult:
        return self.authorize_batch([request])[0]

    def authorize_batch(self, requests: list[ChargeRequest]) -> list[ConnectorResult]:
        """A batch debit file (how banks take scheduled collections): the same rules as
        `authorize` for each debit, decided and booked in one go."""
        self._wait()
        closed = self._closed()
        if closed:
            return [closed] * len(requests)
        # No transaction around the read and the write: no BEGIN and COMMIT round trips. Nothing
        # is lost by it, as a card's day was never locked between the two (on PostgreSQL two
        # debits racing on one card can both pass its daily limit, with or without a transaction;
        # on SQLite this is still one write-locked transaction). The booking is one statement.
        with self.db.autocommit() as connection:
            fingerprints = {request.card.pan: self._fingerprint(request.card.pan) for request in requests}
            spent = dict(connection.execute(_SPENT_TODAY, {"fingerprints": list(set(fingerprints.values())), "bank_date": self._bank_date()}).all())
            decided = [self._decide(request, spent, fingerprints[request.card.pan]) for request in requests]
            booked = [row for _result, row in decided if row is not None]
            if booked:
                connection.execute(insert(SandboxBankTransaction.__table__), booked)
        return [result for result, _row in decided]

    def _decide(self, request: ChargeRequest, spent: dict, fingerprint: str) -> tuple[ConnectorResult, dict | None]:
        """The bank's answer to one debit, and the row it books for it (None: refused outright)."""
        refused = self._over_transaction_limit(request)
        if refused:
            return refused, None
        outcome, code = TEST_CARD_OUTCOMES.get(request.card.pan[-4:], (Outcome.APPROVED, None))
        if outcome is not Outcome.DECLINED and spent.get(fingerprint, 0) + request.amount > bank_for_card(request.card.pan).per_day_limit:
            outcome, code = Outcome.DECLINED, "amount_over_limit"
        # A time-out is a lost answer: the bank did take the money (unless the card says the
        # bank's own books are in doubt too).
        booked = Outcome.APPROVED if outcome is Outcome.UNKNOWN and code is None else outcome
        if booked is Outcome.APPROVED:
            spent[fingerprint] = spent.get(fingerprint, 0) + request.amount
        reference = new_id("bank")
        row = self._row(reference, "debit", request.payment_id, fingerprint, request.amount, request.currency, booked, code)
        if outcome is Outcome.UNKNOWN:
            return ConnectorResult(Outcome.UNKNOWN, message="The bank did not answer in time."), row
        if self.answers_by_callback:
            return ConnectorResult(Outcome.PENDING, reference), row
        return ConnectorResult(outcome, reference, code, DECLINE_MESSAGES.get(code)), row

    def capture(self, reference: str, amount: int, currency: str) -> ConnectorResult:
        self._wait()
        return self._closed() or ConnectorResult(Outcome.APPROVED, reference)

    def void(self, payment_id: str, reference: str | None) -> ConnectorResult:
        self._wait()
        return self._closed() or ConnectorResult(Outcome.APPROVED, reference)

    def refund(self, reference: str, refund_id: str, amount: int, currency: str) -> ConnectorResult:
        self._wait()
        refused = self._closed()
        if refused:
            return refused
        with self.db.unit_of_work() as session:
            debit = session.get(SandboxBankTransaction, reference)
            row = self._row(new_id("bankr"), "refund", refund_id, debit.card_fingerprint if debit else "", amount, currency, Outcome.APPROVED, None)
            session.connection().execute(insert(SandboxBankTransaction.__table__), [row])
        return ConnectorResult(Outcome.APPROVED, row["reference"])

    # ---- payouts (credit pushes to a card) ----------------------------------------------------

    def payout(self, request: PayoutRequest) -> ConnectorResult:
        """Push money to a card, with the bank's latency, hours, per-payout limit and test
        cards (0069 expired: declined; 0119 answer lost, money sent; 0127 never known). Banks
        that answer debits by callback answer payouts later too: ask `payout_status`."""
        self._wait()
        refused = self._closed()
        if refused:
            return refused
        if request.amount > PAYOUT_LIMIT:
            return ConnectorResult(Outcome.DECLINED, None, "amount_over_limit", DECLINE_MESSAGES["amount_over_limit"])
        outcome, code = PAYOUT_TEST_CARD_OUTCOMES.get(request.card.pan[-4:], (Outcome.APPROVED, None))
        booked = Outcome.APPROVED if outcome is Outcome.UNKNOWN and code is None else outcome
        reference = new_id("bankp")
        with self.db.unit_of_work() as session:
            row = self._row(reference, "payout", request.payout_id, self._fingerprint(request.card.pan), request.amount, request.currency, booked, code)
            session.connection().execute(insert(SandboxBankTransaction.__table__), [row])
        if outcome is Outcome.UNKNOWN:
            return ConnectorResult(Outcome.UNKNOWN, message="The bank did not answer in time.")
        if self.answers_by_callback:
            return ConnectorResult(Outcome.PENDING, reference)
        return ConnectorResult(outcome, reference, code, DECLINE_MESSAGES.get(code))

    def payout_status(self, payout_id: str) -> ConnectorResult:
        return self._booked("payout", payout_id)

    def status(self, payment_id: str) -> ConnectorResult:
        return self._booked("debit", payment_id)

    def refund_status(self, refund_id: str) -> ConnectorResult:
        return self._booked("refund", refund_id)

    def _booked(self, kind: str, our_id: str) -> ConnectorResult:
        """What the bank's books say about one of our debits or refunds."""
        self._wait()
        with self.db.unit_of_work() as session:
            row = session.execute(
                select(SandboxBankTransaction)
                .where(SandboxBankTransaction.payment_id == our_id, SandboxBankTransaction.connector == self.name, SandboxBankTransaction.kind == kind)
                .order_by(SandboxBankTransaction.created_at.desc())
                .limit(1)
            ).scalar_one_or_none()
        if row is None:
            return ConnectorResult(Outcome.DECLINED, None, "bank_no_record", DECLINE_MESSAGES["bank_no_record"])
        return ConnectorResult(Outcome(row.outcome), row.reference, row.decline_code, DECLINE_MESSAGES.get(row.decline_code))

    # ---- card binding ---------------------------------------------------------------------

    def start_binding(self, binding_id: str, card: CardDetails, mobile: str) -> ConnectorResult:
        self._wait()
        refused = self._closed()
        if refused:
            return refused
        outcome, code = TEST_CARD_OUTCOMES.get(card.pan[-4:], (Outcome.APPROVED, None))
        if outcome is Outcome.DECLINED and code == "expired_card":
            return ConnectorResult(Outcome.DECLINED, None, code, DECLINE_MESSAGES[code])
        reference = new_id("bind")
        with self.db.unit_of_work() as session:
            session.add(SandboxCardBinding(reference=reference, connector=self.name, code=f"{secrets.randbelow(10**6):06d}", created_at=self.clock()))
        return ConnectorResult(Outcome.APPROVED, reference)

    def confirm_binding(self, reference: str, code: str) -> ConnectorResult:
        self._wait()
        with self.db.unit_of_work() as session:
            binding = session.get(SandboxCardBinding, reference)
        if binding is None or as_utc(binding.created_at) + SMS_CODE_LIFETIME < self.clock():
            return ConnectorResult(Outcome.DECLINED, reference, "code_expired", DECLINE_MESSAGES["code_expired"])
        if not hmac.compare_digest(binding.code, code):
            return ConnectorResult(Outcome.DECLINED, reference, "incorrect_code", DECLINE_MESSAGES["incorrect_code"])
        return ConnectorResult(Outcome.APPROVED, reference)

    def sent_sms_code(self, reference: str) -> str | None:
        """Test mode only: the code the bank texted, as the card holder would read it."""
        with self.db.unit_of_work() as session:
            binding = session.get(SandboxCardBinding, reference)
        return binding.code if binding else None

    # ---- callbacks --------------------------------------------------------------------------

    def signed_callback(self, payment_id: str) -> tuple[bytes, str] | None:
        """The callback this bank sends about a debit: its body and `Bank-Signature` header (None:
        the bank holds no debit for that payment, so it has nothing to say)."""
        with self.db.unit_of_work() as session:
            row = session.execute(
                select(SandboxBankTransaction).where(SandboxBankTransaction.payment_id == payment_id, SandboxBankTransaction.kind == "debit")
            ).scalar_one_or_none()
        if row is None:
            return None
        body = json.dumps(
            {
                "payment_id": row.payment_id,
                "reference": row.reference,
                "amount": row.amount,
                "currency": row.currency,
                "outcome": row.outcome,
                "decline_code": row.decline_code,
            },
            sort_keys=True,
        ).encode()
        return body, self.sign(body, int(self.clock().timestamp()))

    def sign(self, body: bytes, timestamp: int) -> str:
        mac = hmac.new(self.secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={mac}"

    def parse_callback(self, body: bytes, headers) -> Notification:
        try:
            parts = dict(item.split("=", 1) for item in headers.get("Bank-Signature", "").split(","))
            timestamp = int(parts["t"])
        except (ValueError, KeyError):
            raise CallbackRejected("malformed signature header") from None
        expected = self.sign(body, timestamp).split("v1=")[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise CallbackRejected("signature does not match")
        if abs(self.clock() - datetime.fromtimestamp(timestamp, timezone.utc)) > CALLBACK_TOLERANCE:
            raise CallbackRejected("signature timestamp outside the tolerance window")
        try:
            data = json.loads(body)
            result = ConnectorResult(Outcome(data["outcome"]), data["reference"], data.get("decline_code"), DECLINE_MESSAGES.get(data.get("decline_code")))
            return Notification(data["payment_id"], int(data["amount"]), data["currency"], result)
        except (ValueError, KeyError, TypeError):
            raise CallbackRejected("malformed callback body") from None

    # ---- the bank's rules -------------------------------------------------------------------

    def _closed(self) -> ConnectorResult | None:
        if self.maintenance.covers(self.clock()):
            return ConnectorResult(Outcome.DECLINED, None, "bank_unavailable", DECLINE_MESSAGES["bank_unavailable"])
        return None

    def _over_transaction_limit(self, request: ChargeRequest) -> ConnectorResult | None:
        bank = bank_for_card(request.card.pan)
        if bank is None or request.amount > bank.per_transaction_limit:
            return ConnectorResult(Outcome.DECLINED, None, "amount_over_limit", DECLINE_MESSAGES["amount_over_limit"])
        return None

    def _row(self, reference, kind, payment_id, fingerprint, amount, currency, outcome: Outcome, code) -> dict:
        """One line of the bank's books (sandbox_bank_transactions), as table columns."""
        return {
            "reference": reference,
            "connector": self.name,
            "kind": kind,
            "payment_id": payment_id,
            "card_fingerprint": fingerprint,
            "bank_date": self._bank_date(),
            "amount": amount,
            "currency": currency,
            "outcome": outcome.value,
            "decline_code": code,
            "created_at": as_utc(self.clock()),
        }

    def _fingerprint(self, pan: str) -> str:
        return hmac.new(self.secret, pan.encode(), hashlib.sha256).hexdigest()

    def _bank_date(self) -> str:
        return as_utc(self.clock()).astimezone(BEIJING).date().isoformat()

    def _wait(self) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
