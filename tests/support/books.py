"""What must hold after any fault, read straight from the database (SQL, any process's writes):
no payment or installment debited twice by the bank, every acknowledged payment stored once, no
device message stored twice. For the fault tests and bench/scaleout.py."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import create_engine, text

from gateway.adapters.db.engine import normalise_url


class Books:
    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(normalise_url(database_url))

    def close(self) -> None:
        self.engine.dispose()

    def scalar(self, sql: str, **params):
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def payments_debited_twice(self) -> list:
        """Payments the (sandbox) bank approved a debit for more than once."""
        return self.rows("SELECT payment_id, count(*) FROM sandbox_bank_transactions WHERE kind = 'debit' "
                         "AND outcome = 'approved' GROUP BY payment_id HAVING count(*) > 1")

    def installments_debited_twice(self) -> list:
        """Installments (a scheduled debit's description names its installment and plan) debited
        more than once, whichever payment carried the debit."""
        return self.rows("SELECT p.description, count(*) FROM payments p JOIN sandbox_bank_transactions b "
                         "ON b.payment_id = p.id WHERE p.purpose = 'installment' AND b.kind = 'debit' "
                         "AND b.outcome = 'approved' GROUP BY p.description HAVING count(*) > 1")

    def refunded_beyond_debited(self) -> list:
        """Payments the bank paid back more for than it took (a refund sent twice). The bank
        books a refund under the refund's id."""
        return self.rows(
            "SELECT r.payment_id FROM refunds r JOIN sandbox_bank_transactions b ON b.payment_id = r.id "
            "AND b.kind = 'refund' AND b.outcome = 'approved' GROUP BY r.payment_id "
            "HAVING sum(b.amount) > (SELECT coalesce(sum(d.amount), 0) FROM sandbox_bank_transactions d "
            "WHERE d.payment_id = r.payment_id AND d.kind = 'debit' AND d.outcome = 'approved')")

    def stored_payments(self, ids: Iterable[str]) -> dict[str, int]:
        """payment id -> how many rows hold it (1 for every acknowledged payment)."""
        ids = list(ids)
        found = dict(self.rows("SELECT id, count(*) FROM payments WHERE id = ANY(:ids) GROUP BY id", ids=ids)) if ids else {}
        return {payment_id: found.get(payment_id, 0) for payment_id in ids}

    def installments_by_status(self, merchant_id: str) -> dict[str, int]:
        return dict(self.rows("SELECT i.status, count(*) FROM installments i JOIN installment_plans p ON p.id = i.plan_id "
                              "WHERE p.merchant_id = :merchant GROUP BY i.status", merchant=merchant_id))

    def device_messages(self, device_ids: list[str]) -> tuple[int, int]:
        """(rows, distinct (device, seq)) stored for these devices: equal when nothing is doubled."""
        rows, distinct = self.rows("SELECT count(*), count(DISTINCT (device_id, seq)) FROM device_messages "
                                   "WHERE device_id = ANY(:ids)", ids=device_ids)[0]
        return rows, distinct

    def nothing_done_twice(self) -> list[str]:
        """The problems found, as sentences; empty when the books are clean."""
        problems = []
        for name, found in (("payments debited twice", self.payments_debited_twice()),
                            ("installments debited twice", self.installments_debited_twice()),
                            ("payments refunded beyond their debit", self.refunded_beyond_debited())):
            if found:
                problems.append(f"{name}: {found[:5]}")
        return problems
