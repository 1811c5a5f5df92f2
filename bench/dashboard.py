"""Dashboard page times with 10,000 payments in the database, beside a floor.

    PYTHONPATH=. python bench/dashboard.py [--payments 10000] [--runs 15] [--database-url URL]

Makes a throw-away database (a SQLite file in a temp dir, or a fresh PostgreSQL database
paygate_bench_<random> on 127.0.0.1:5432 with --database-url postgresql), migrates it and fills
it in bulk: two merchants, --payments payments spread over the last 30 Beijing days (mostly
succeeded, some failed with reasons, some refunded) with their events and capture postings, 300
installment plans of 12 installments, 100 devices with telemetry and rejected messages. Then it
signs in as an operator (every merchant) and as a merchant admin and asks each dashboard page
--runs times through Flask's test client (in process: the time to build the page, no network),
and prints the median and the slowest run per page beside the floor: the sign-in page, which
renders a template and reads no data, measured in the same run. Goal: every page under 300 ms.
"""
from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from gateway.adapters.db.device_models import Device, DeviceMessage, DeviceRejection  # noqa: E402
from gateway.adapters.db.engine import normalise_url  # noqa: E402
from gateway.adapters.db.installment_models import DevicePaygCredential, Installment, InstallmentPlan, InstallmentProduct  # noqa: E402
from gateway.adapters.db.models import Customer, Event, LedgerTransaction, Payment, Refund, SavedCard  # noqa: E402
from gateway.adapters.db.schema import upgrade  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.domain.ids import new_id  # noqa: E402
from gateway.services.dashboard_users import Role, create_user  # noqa: E402
from gateway.services.merchants import create_merchant  # noqa: E402

GOAL_MS = 300
PASSWORD = "bench password 123"
REASONS = ("insufficient_funds", "expired_card", "amount_over_limit", "bank_unavailable")


def fresh_database(kind: str) -> tuple[str, callable]:
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="paygate-bench-")
        return f"sqlite:///{directory}/bench.db", lambda: None
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"paygate_bench_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def seed(gw, merchants: list[str], payments: int) -> None:
    """Bulk rows, as the gateway's own writes would leave them (Core inserts, one transaction)."""
    rng = random.Random(12)
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        connection = session.connection()
        payment_rows, event_rows, ledger_rows, refund_rows = [], [], [], []
        for n in range(payments):
            merchant = merchants[n % len(merchants)]
            created = now - timedelta(seconds=rng.randrange(30 * 24 * 3600))
            amount = rng.choice((6800, 12900, 39900, 129900, 399900))
            roll = rng.random()
            status = "succeeded" if roll < 0.86 else ("failed" if roll < 0.96 else "processing")
            refunded = amount // 2 if status == "succeeded" and rng.random() < 0.05 else 0
            payment_id = new_id("pay")
            payment_rows.append({
                "id": payment_id, "merchant_id": merchant, "amount": amount, "currency": "CNY", "status": status,
                "capture_method": "automatic", "amount_capturable": 0, "amount_received": amount if status == "succeeded" else 0,
                "amount_refunded": refunded, "card_brand": "unionpay", "card_bank": "102", "card_last4": f"{rng.randrange(10000):04d}",
                "purpose": "charge", "connector": "sandbox_big_four", "connector_reference": new_id("bank"),
                "failure_code": rng.choice(REASONS) if status == "failed" else None, "description": f"order {n}",
                "metadata": {}, "created_at": created, "updated_at": created, "reconcile_attempts": 0,
            })
            if status != "processing":
                event_rows.append({"id": new_id("evt"), "merchant_id": merchant, "type": f"payment.{status}",
                                   "data": {"object": "payment", "id": payment_id, "status": status}, "created_at": created})
            if status == "succeeded":
                ledger_rows.append({"kind": "capture", "reference": payment_id, "created_at": created})
            if refunded:
                refund_rows.append({"id": new_id("re"), "merchant_id": merchant, "payment_id": payment_id, "amount": refunded,
                                    "currency": "CNY", "status": "succeeded", "reconcile_attempts": 0, "created_at": created})
        for table, rows in ((Payment, payment_rows), (Event, event_rows), (LedgerTransaction, ledger_rows), (Refund, refund_rows)):
            for start in range(0, len(rows), 2000):
                connection.execute(insert(table.__table__), rows[start:start + 2000])
        seed_plans_and_devices(connection, merchants[0], now, rng)


def seed_plans_and_devices(connection, merchant: str, now: datetime, rng: random.Random) -> None:
    product = new_id("ipr")
    connection.execute(insert(InstallmentProduct.__table__), [{
        "id": product, "merchant_id": merchant, "name": "Phone", "terms": [12], "method": "equal_installment", "apr": Decimal("12"),
        "fee_rate": Decimal(0), "down_payment_share": Decimal(0), "min_amount": 100_00, "max_amount": 50_000_00, "grace_days": 5,
        "late_fee_fixed": 2000, "late_fee_rate": Decimal(0), "late_fee_cap": 20000, "cooling_off_days": 7, "created_at": now}])
    customers, cards, plans, installments, devices, credentials, messages, rejections = [], [], [], [], [], [], [], []
    for n in range(300):
        customer, card, plan = new_id("cus"), new_id("card"), new_id("ipl")
        customers.append({"id": customer, "merchant_id": merchant, "state": "active", "created_at": now})
        cards.append({"id": card, "customer_id": customer, "merchant_id": merchant, "status": "active", "brand": "unionpay", "bank_code": "102",
                      "last4": "8888", "masked_number": "622202******8888", "exp_month": 12, "exp_year": 2031, "failed_attempts": 0, "created_at": now})
        start = (now - timedelta(days=rng.randrange(200))).date()
        delinquency = rng.choice(("current",) * 8 + ("grace", "1-30"))
        plans.append({"id": plan, "merchant_id": merchant, "customer_id": customer, "saved_card_id": card, "product_id": product,
                      "amount": 399900, "currency": "CNY", "down_payment": 0, "financed": 399900, "term_months": 12, "method": "equal_installment",
                      "apr": Decimal("12"), "start_date": start, "state": "active", "delinquency": delinquency, "late_fees_charged": 0, "created_at": now})
        for number in range(1, 13):
            due = start + timedelta(days=30 * number)
            # A late plan has not paid its installments of the last month.
            paid = due < now.date() and not (delinquency != "current" and due >= now.date() - timedelta(days=30))
            installments.append({"plan_id": plan, "number": number, "due_date": due, "principal": 31_500, "interest": 2_000, "late_fee": 0,
                                 "paid_principal": 31_500 if paid else 0, "paid_interest": 2_000 if paid else 0, "paid_late_fee": 0,
                                 "waived_interest": 0, "status": "paid" if paid else "scheduled", "attempts": 0})
    for n in range(100):
        device = new_id("dev")
        devices.append({"id": device, "merchant_id": merchant, "kind": "phone", "model": "X1 phone", "state": "active", "signing_algorithm": "EdDSA",
                        "signing_public_key": "-", "cert_serial": str(n), "cert_fingerprint": f"{n:064d}", "cert_not_after": now + timedelta(days=365),
                        "last_seen_at": now - timedelta(minutes=n), "last_seq": 50, "messages_stored": 50, "messages_rejected": n % 3, "created_at": now})
        credentials.append({"device_id": device, "secret_sealed": "-", "starting_code": 1, "last_count": 1,
                            "paid_until": (now + timedelta(days=rng.randrange(-10, 30))).date(), "unlocked_for_good": False})
        for seq in range(1, 51):
            sent = now - timedelta(hours=seq * 12)
            messages.append({"device_id": device, "seq": seq, "kind": "telemetry", "sent_at": sent, "received_at": sent, "body": {"screen_seconds": 60}})
        rejections += [{"device_id": device, "topic": f"devices/{device}/telemetry", "reason": rng.choice(("bad_signature", "duplicate_sequence", "stale")),
                        "received_at": now} for _ in range(n % 3)]
    for table, rows in ((Customer, customers), (SavedCard, cards), (InstallmentPlan, plans), (Installment, installments), (Device, devices),
                        (DevicePaygCredential, credentials), (DeviceMessage, messages), (DeviceRejection, rejections)):
        for start in range(0, len(rows), 2000):
            connection.execute(insert(table.__table__), rows[start:start + 2000])


def signed_in(app, email: str):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/sign-in").get_data(as_text=True)).group(1)
    assert client.post("/dashboard/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 303
    return client


def timed(client, path: str, runs: int) -> list[float]:
    client.get(path)  # warm: templates compiled, connections open
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default="sqlite", help="sqlite (default) or postgresql: a throw-away database of that kind")
    args = parser.parse_args()
    url, drop = fresh_database(args.database_url)
    try:
        upgrade(url)
        directory = tempfile.mkdtemp(prefix="paygate-bench-var-")
        app = create_app({"database_url": url, "var_dir": directory, "log_level": "WARNING"})  # no access log line per request
        gw = app.extensions["paygate"]
        merchants = [create_merchant(gw, name).id for name in ("Bench Phones", "Bench Gadgets")]
        began = time.perf_counter()
        seed(gw, merchants, args.payments)
        print(f"seeded {args.payments:,} payments, 300 plans, 100 devices on {normalise_url(url).split(':')[0]} in {time.perf_counter() - began:.1f} s")
        create_user(gw, "ops@bench.example", PASSWORD, Role.OPERATOR)
        create_user(gw, "admin@bench.example", PASSWORD, Role.MERCHANT_ADMIN, merchants[0])
        operator, admin = signed_in(app, "ops@bench.example"), signed_in(app, "admin@bench.example")
        some_payment = re.search(r'/dashboard/payments/(pay_\w+)', operator.get("/dashboard/payments").get_data(as_text=True)).group(1)
        some_plan = re.search(r'/dashboard/plans/(ipl_\w+)', operator.get("/dashboard/plans").get_data(as_text=True)).group(1)
        some_device = re.search(r'/dashboard/devices/(dev_\w+)', operator.get("/dashboard/devices").get_data(as_text=True)).group(1)
        floor = statistics.median(timed(app.test_client(), "/dashboard/sign-in", args.runs))
        pages = [
            ("operator", operator, "/dashboard/"), ("merchant", admin, "/dashboard/"),
            ("operator", operator, "/dashboard/payments"), ("operator", operator, "/dashboard/payments?q=order+42"),
            ("operator", operator, "/dashboard/payments?status=failed"), ("merchant", admin, "/dashboard/payments?q=8888"),
            ("operator", operator, f"/dashboard/payments/{some_payment}"), ("operator", operator, "/dashboard/plans"),
            ("operator", operator, f"/dashboard/plans/{some_plan}"), ("operator", operator, "/dashboard/devices"),
            ("operator", operator, f"/dashboard/devices/{some_device}"),
        ]
        print(f"\nfloor (sign-in page, no data read): median {floor:.1f} ms\n")
        print(f"{'who':<9} {'page':<48} {'median ms':>9} {'max ms':>8}  x floor")
        worst = 0.0
        for who, client, path in pages:
            times = timed(client, path, args.runs)
            median = statistics.median(times)
            worst = max(worst, max(times))
            print(f"{who:<9} {path[:48]:<48} {median:>9.1f} {max(times):>8.1f}  {median / floor:5.1f}")
        verdict = "every page under" if worst < GOAL_MS else "SOME PAGE OVER"
        print(f"\nslowest single run {worst:.1f} ms: {verdict} {GOAL_MS} ms ({args.runs} runs per page, {args.payments:,} payments)")
        gw.db.dispose()
        return 0 if worst < GOAL_MS else 1
    finally:
        drop()


if __name__ == "__main__":
    sys.exit(main())
