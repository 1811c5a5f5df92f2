"""No payment is left with an unknown outcome: status queries on a back-off schedule resolve it
exactly once, even with several workers; what the bank cannot answer goes to an operator."""
from __future__ import annotations

import threading
from decimal import Decimal
from datetime import timedelta

from sqlalchemy import func, select

from gateway.adapters.db.models import Event, LedgerTransaction, Payment, Refund
from gateway.domain.money import merchant_fee
from gateway.domain.reconciliation import RECONCILE_SCHEDULE
from gateway.services import reconciliation
from gateway.services.ledger import verify
from tests.integration.conftest import Shop, TimeMachine


def _count(gw, query) -> int:
    with gw.db.unit_of_work() as session:
        return session.execute(query).scalar_one()


def test_timed_out_payment_is_resolved_once_after_the_first_delay(shop):
    # Earlier tests' unknown outcomes come due in real time on a slow run: settle them first, so
    # that what follows counts this payment alone.
    reconciliation.reconcile_payments(shop.gw)
    payment = shop.pay(3_000, "0119")
    clock = TimeMachine(shop.gw)
    try:
        # Not due yet (the run may settle other tests' payments that are, as time passes).
        reconciliation.reconcile_payments(shop.gw)
        assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "processing"
        clock.travel(RECONCILE_SCHEDULE[0])
        assert reconciliation.reconcile_payments(shop.gw) >= 1
        assert reconciliation.reconcile_payments(shop.gw) == 0
    finally:
        clock.restore()
    resolved = shop.get(f"/v1/payments/{payment['id']}").json
    assert resolved["status"] == "succeeded"
    assert shop.balance() == 3_000 - 18


def test_lost_bank_callback_is_resolved_by_a_status_query(shop):
    payment = shop.post("/v1/payments", {"amount": 4_000, "currency": "CNY", "payment_method": shop.token("0002", "CIB"), "confirm": True}).json
    assert payment["status"] == "processing"  # joint-stock bank: the callback never comes
    clock = TimeMachine(shop.gw)
    try:
        clock.travel(RECONCILE_SCHEDULE[0])
        reconciliation.run_once(shop.gw)
    finally:
        clock.restore()
    assert shop.get(f"/v1/payments/{payment['id']}").json["failure_code"] == "insufficient_funds"


def test_unanswerable_payment_is_flagged_for_an_operator_and_never_charged_again(shop):
    payment = shop.pay(5_000, "0127")
    clock = TimeMachine(shop.gw)
    try:
        for delay in RECONCILE_SCHEDULE:
            clock.travel(delay + timedelta(seconds=1))
            reconciliation.reconcile_payments(shop.gw)
        clock.travel(timedelta(days=2))
        assert reconciliation.reconcile_payments(shop.gw) == 0  # no more queries once flagged
    finally:
        clock.restore()
    seen = shop.get(f"/v1/payments/{payment['id']}").json
    assert seen["status"] == "processing"
    assert "operator" in seen["flagged_reason"]
    assert payment["id"] in [p.id for p in reconciliation.flagged_payments(shop.gw)]
    from click.testing import CliRunner

    from gateway.entrypoints.cli import main

    listed = CliRunner().invoke(main, ["reconciliation", "flagged"], env={"PAYGATE_DATABASE_URL": shop.gw.settings.database_url, "PAYGATE_VAR_DIR": str(shop.gw.settings.var_dir)})
    assert listed.exit_code == 0 and payment["id"] in listed.output
    with shop.gw.db.unit_of_work() as session:
        row = session.execute(select(Payment).where(Payment.id == payment["id"])).scalar_one()
        assert row.reconcile_attempts == len(RECONCILE_SCHEDULE)
    from gateway.adapters.db.models import SandboxBankTransaction

    debits = _count(shop.gw, select(func.count()).select_from(SandboxBankTransaction).where(SandboxBankTransaction.payment_id == payment["id"]))
    assert debits == 1  # asked about, never charged again
    assert shop.balance() == 0


def test_pending_refund_is_settled_by_reconciliation(shop):
    payment = shop.pay(6_000)
    refund = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 1_000}).json
    # As if the process died between the bank's refund and our bookkeeping: the refund pends.
    with shop.gw.db.unit_of_work() as session:
        row = session.execute(select(Refund).where(Refund.id == refund["id"])).scalar_one()
        row.status = "pending"
        row.next_reconcile_at = shop.gw.clock()
        ledger_rows = session.execute(select(LedgerTransaction).where(LedgerTransaction.reference == refund["id"])).scalars().all()
        assert len(ledger_rows) == 1
    # Undo the bookkeeping too, so that reconciliation must redo it exactly once.
    from tests.integration.test_cli_and_contract import _unpost

    _unpost(shop.gw, refund["id"])
    assert reconciliation.reconcile_refunds(shop.gw) == 1
    assert shop.get(f"/v1/refunds/{refund['id']}").json["status"] == "succeeded"
    assert shop.balance() == 6_000 - 36 - 1_000
    assert verify(shop.gw).ok


def test_two_workers_resolve_each_unknown_payment_exactly_once(pg_gateway):
    shop = Shop(pg_gateway)
    payments = [shop.pay(1_000 + n, "0119")["id"] for n in range(12)]
    clock = TimeMachine(pg_gateway)
    handled = []
    try:
        clock.travel(RECONCILE_SCHEDULE[0])
        barrier = threading.Barrier(2)

        def worker():
            barrier.wait()
            handled.append(reconciliation.reconcile_payments(pg_gateway, batch=5) + reconciliation.reconcile_payments(pg_gateway, batch=5) + reconciliation.reconcile_payments(pg_gateway, batch=5))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        clock.restore()

    assert sum(handled) == 12
    for payment_id in payments:
        assert shop.get(f"/v1/payments/{payment_id}").json["status"] == "succeeded"
        assert _count(pg_gateway, select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.reference == payment_id)) == 1
        with pg_gateway.db.unit_of_work() as session:
            kinds = [e.type for e in session.execute(select(Event).where(Event.merchant_id == shop.id)).scalars() if e.data["id"] == payment_id]
        assert kinds == ["payment.succeeded"]
    assert shop.balance() == sum(1_000 + n - merchant_fee(1_000 + n, Decimal("0.006")) for n in range(12))
    assert verify(pg_gateway).ok


def test_a_connector_that_fails_mid_call_leaves_a_payment_reconciliation_settles(shop, monkeypatch):
    connector = shop.gw.connector("sandbox_big_four")
    real = connector.authorize

    def take_money_then_fail(request):
        real(request)  # the bank books the debit...
        raise ConnectionResetError("...and the connection drops before its answer")

    monkeypatch.setattr(connector, "authorize", take_money_then_fail)
    payment = shop.pay(2_500)
    monkeypatch.setattr(connector, "authorize", real)
    assert payment["status"] == "processing"
    clock = TimeMachine(shop.gw)
    try:
        clock.travel(RECONCILE_SCHEDULE[0])
        assert reconciliation.reconcile_payments(shop.gw) >= 1
    finally:
        clock.restore()
    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "succeeded"
    assert shop.balance() == 2_500 - 15
