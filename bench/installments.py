"""Installment quotes per second, and the due-debit rate on PostgreSQL with two worker processes.

    PYTHONPATH=. python bench/installments.py [--installments 100000] [--customers 1000] [--quote-seconds 3]

1. Quotes: 12-month equal-installment schedules built by the domain code (what
   POST /v1/installment_quotes computes), for --quote-seconds; goal 20,000/s. Beside it, in the
   same run, the floor: the same number of periods as bare Decimal interest arithmetic.
2. Due debits: a throw-away database paygate_bench_<random> on 127.0.0.1:5432 (user postgres,
   trust), migrated; --customers customers with a saved ICBC card each (sandbox bank at 0 ms), and
   --installments plans each with its first installment due today; then two worker processes
   run the installments queue until nothing is due. Prints debits/s, the total time (goal: all
   of 100,000 in under 60 s), and checks none was debited twice and the ledger verifies. Beside
   it, in the same run, two floors: the set-based one, one SQL statement marking every due
   installment paid (timed before the workers start, then rolled back, so the workers find them
   all still due), and plain card payments/s through the same payment service in one process.
   The database is dropped at the end, whatever happens.
"""
from __future__ import annotations

import argparse
import multiprocessing
import secrets
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402

from gateway.adapters.db import ledger_repository as ledger  # noqa: E402
from gateway.adapters.db.installment_models import Installment, InstallmentPlan  # noqa: E402
from gateway.adapters.db.models import Payment  # noqa: E402
from gateway.adapters.db.schema import upgrade  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.domain.clock import beijing_date  # noqa: E402
from gateway.domain.ids import new_id  # noqa: E402
from gateway.domain.installments import Method, build_schedule  # noqa: E402
from gateway.domain.ledger import financing_entry  # noqa: E402
from gateway.domain.sandbox_cards import sandbox_card_number  # noqa: E402
from gateway.domain.sandbox_ids import sandbox_id_number  # noqa: E402
from gateway.services import customers, installment_plans, payments, saved_cards  # noqa: E402
from gateway.bootstrap import Gateway  # noqa: E402
from gateway.services.ledger import verify  # noqa: E402
from gateway.services.merchants import create_merchant  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
QUOTE_GOAL = 20_000
DEBIT_GOAL_SECONDS = 60
PRINCIPAL = 12_000  # CNY 120.00 per installment: well inside every card's daily limit


def bench_quotes(seconds: float) -> tuple[float, float]:
    start = beijing_date(Gateway_clock())
    apr = Decimal("12")
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for _ in range(1000):
            build_schedule(399_900, 12, Method.EQUAL_INSTALLMENT, apr=apr, start=start)
        done += 1000
    quotes = done / (time.perf_counter() - began)
    # The floor: twelve periods of interest on a declining balance, nothing else.
    rate, floor_done, began = apr / 1200, 0, time.perf_counter()
    while time.perf_counter() - began < seconds / 3:
        for _ in range(1000):
            balance = Decimal(399_900)
            for _period in range(12):
                balance -= (balance * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        floor_done += 1000
    return quotes, floor_done / (time.perf_counter() - began)


def Gateway_clock():  # noqa: N802 - a clock, named like the gateway's
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def seed(gw: Gateway, merchant_id: str, product_id: str, n_customers: int, n_installments: int) -> None:
    """Customers with saved cards through the services; plans and installments in bulk."""
    cards = []
    for i in range(n_customers):
        customer = customers.register_customer(
            gw, merchant_id, name=f"Bench {i}", mobile="13800138000", id_number=sandbox_id_number(_birth(i), order=1 + i % 998),
            identity_consent=customers.ConsentGrant(customers.ConsentKind.IDENTITY, "v1", "bench"),
        )
        customers.grant_consent(gw, merchant_id, customer.id, customers.ConsentGrant(customers.ConsentKind.BANK_CARD, "v1", "bench"))
        pan = sandbox_card_number("ICBC", f"{1000 + i % 9000:04d}", length=19)
        card = saved_cards.start_binding(gw, merchant_id, customer.id, card_number=pan, exp_month=12, exp_year=2035, cvv="123")
        saved_cards.verify_binding(gw, merchant_id, customer.id, card.id, saved_cards.sent_sms_code(gw, merchant_id, card.id))
        cards.append((customer.id, card.id))
    today = beijing_date(gw.clock())
    start = installment_plans.rules.add_months(today, -1)
    plans, items = [], []
    for n in range(n_installments):
        customer_id, card_id = cards[n % n_customers]
        plan_id = new_id("ipl")
        plans.append(dict(id=plan_id, merchant_id=merchant_id, customer_id=customer_id, saved_card_id=card_id, product_id=product_id,
                          amount=PRINCIPAL * 3, currency="CNY", down_payment=0, financed=PRINCIPAL * 3, term_months=3, method="equal_principal",
                          apr=Decimal(0), start_date=start, state="active", delinquency="current", late_fees_charged=0, created_at=gw.clock()))
        for number in (1, 2, 3):
            due = installment_plans.rules.add_months(start, number)
            items.append(dict(plan_id=plan_id, number=number, due_date=due, principal=PRINCIPAL, interest=0, late_fee=0, paid_principal=0,
                              paid_interest=0, paid_late_fee=0, waived_interest=0, status="scheduled", attempts=0,
                              next_attempt_at=installment_plans._start_of(due)))
    with gw.db.unit_of_work() as session:
        for chunk in range(0, len(plans), 5_000):
            session.execute(insert(InstallmentPlan), plans[chunk:chunk + 5_000])
        for chunk in range(0, len(items), 5_000):
            session.execute(insert(Installment), items[chunk:chunk + 5_000])
        per_customer = {}
        for plan in plans:
            per_customer[plan["customer_id"]] = per_customer.get(plan["customer_id"], 0) + plan["financed"]
        for customer_id, financed in per_customer.items():  # the merchant was paid when the plans began
            ledger.post(session, financing_entry(reference=f"seed-{customer_id}", merchant_id=merchant_id, customer_id=customer_id,
                                                 currency="CNY", financed=financed, fee=0))


def _birth(i: int):
    from datetime import date

    return date(1960 + i % 40, 1 + i % 12, 1 + i % 28)


def worker(url: str, var_dir: str, done: multiprocessing.Queue) -> None:
    gw = Gateway.from_settings(Settings.load({"database_url": url, "var_dir": var_dir, "sandbox_latency_ms": 0, "db_pool_size": 2}))
    total = 0
    while True:
        n = installment_plans.collect_due(gw, batch=1000)
        if n == 0:
            break
        total += n
    done.put(total)


def bench_set_based_floor(gw: Gateway) -> tuple[int, float]:
    """One UPDATE that marks every installment due today paid, as if each debit had succeeded:
    the least work the database can do for them (no bank, no ledger, no event). Timed, then
    rolled back. Returns (rows, seconds)."""
    today = beijing_date(gw.clock())
    mark_paid = (
        update(Installment)
        .where(Installment.status == "scheduled", Installment.due_date <= today)
        .values(status="paid", paid_principal=Installment.principal, paid_interest=Installment.interest,
                attempts=Installment.attempts + 1, next_attempt_at=None, paid_at=func.now())
    )
    with gw.db.engine.connect() as connection:
        began = time.perf_counter()
        rows = connection.execute(mark_paid).rowcount
        elapsed = time.perf_counter() - began
        connection.rollback()
    return rows, elapsed


def bench_payments_floor(gw: Gateway, merchant_id: str, card_id: str, seconds: float) -> float:
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        payments.create_payment(gw, merchant_id, payments.NewPayment(100, "CNY", payments.PaymentMethod("saved_card", card_id), confirm=True))
        count += 1
    return count / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installments", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--quote-seconds", type=float, default=3.0)
    args = parser.parse_args()

    quotes, floor = bench_quotes(args.quote_seconds)
    print(f"quotes (12 months, equal installments): {quotes:,.0f}/s   floor (bare Decimal interest loop): {floor:,.0f}/s   goal {QUOTE_GOAL:,}/s   {'OK' if quotes >= QUOTE_GOAL else 'BELOW GOAL'}")

    name = f"paygate_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    var_dir = tempfile.mkdtemp(prefix="paygate-bench-")
    try:
        upgrade(url)
        gw = Gateway.from_settings(Settings.load({"database_url": url, "var_dir": var_dir, "sandbox_latency_ms": 0}))
        merchant = create_merchant(gw, "Bench Shop")
        product = installment_plans.create_product(gw, merchant.id, installment_plans.ProductTerms("bench", [3], Method.EQUAL_PRINCIPAL))
        began = time.perf_counter()
        seed(gw, merchant.id, product.id, args.customers, args.installments)
        print(f"seeded {args.installments:,} installments due today for {args.customers:,} customers in {time.perf_counter() - began:.1f} s")
        floor_rows, floor_seconds = bench_set_based_floor(gw)

        done: multiprocessing.Queue = multiprocessing.Queue()
        processes = [multiprocessing.Process(target=worker, args=(url, var_dir, done)) for _ in range(2)]
        began = time.perf_counter()
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - began
        handled = [done.get() for _ in processes]
        with gw.db.unit_of_work() as session:
            debits = session.execute(select(func.count()).select_from(Payment).where(Payment.purpose == "installment")).scalar_one()
            paid = session.execute(select(func.count()).select_from(Installment).where(Installment.number == 1, Installment.status == "paid")).scalar_one()
            twice = session.execute(
                select(func.count()).select_from(select(Payment.installment_plan_id).where(Payment.purpose == "installment").group_by(Payment.installment_plan_id).having(func.count() > 1).subquery())
            ).scalar_one()
        rate = debits / elapsed
        print(f"due debits: {debits:,} in {elapsed:.1f} s with 2 worker processes ({handled[0]:,} + {handled[1]:,}) = {rate:,.0f} debits/s   "
              f"goal: {args.installments:,} in < {DEBIT_GOAL_SECONDS} s   {'OK' if elapsed < DEBIT_GOAL_SECONDS and debits == args.installments else 'BELOW GOAL'}")
        print(f"set-based floor: one UPDATE marking {floor_rows:,} installments paid: {floor_seconds:.2f} s = {floor_rows / floor_seconds:,.0f} rows/s   "
              f"(the debits, each a bank call, a payment, a ledger entry and events, take {elapsed / floor_seconds:.0f}x its time)")
        print(f"checks: installments paid {paid:,}/{args.installments:,}; plans debited twice: {twice}; ledger verify: {'ok' if verify(gw).ok else 'FAILED'}")
        with gw.db.unit_of_work() as session:
            card_id = session.execute(select(InstallmentPlan.saved_card_id).limit(1)).scalar_one()
        floor = bench_payments_floor(gw, merchant.id, card_id, 5.0)
        print(f"payments floor: plain saved-card payments through the same service, one process: {floor:,.0f}/s "
              f"(two processes of debits reach {rate / floor:.2f}x that)")
        gw.db.dispose()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
