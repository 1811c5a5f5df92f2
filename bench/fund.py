"""Daily fund accrual of 1,000,000 holders on PostgreSQL with 2 workers, beside its floor.

    PYTHONPATH=. python bench/fund.py [--holders 1000000] [--workers 2]

Creates a throw-away database paygate_bench_fund_<random> on 127.0.0.1:5432 (user postgres,
trust), migrates it, and seeds two funds of --holders holders each with set-based SQL
(INSERT ... SELECT FROM generate_series, one ledger entry per fund for the seeded units), then
VACUUM ANALYZE. The manager's signed figure for one day is recorded for both. Then:

  floor     one set-based UPDATE adding the day's income to every holding of fund A
            (no per-holder record, no ledger, no event, one statement, one process)
  accrual   the real accrual of fund B's day by --workers processes at once
            (gateway.services.fund_accrual.accrue_fund_day: chunks claimed with SKIP LOCKED,
            per-holder income rows, holdings updated, one aggregated ledger entry, one event)

and prints both times, holders/s, the ratio floor / accrual (goal >= 0.5), the goal of accrual
under 60 s, and checks: the run's totals, `fund reconcile` for the day, `ledger verify`. The
database is dropped at the end, whatever happens.
"""
from __future__ import annotations

import argparse
import base64
import multiprocessing
import secrets
import sys
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402
from sqlalchemy import text  # noqa: E402

from gateway.adapters.db import ledger_repository as ledger  # noqa: E402
from gateway.adapters.db.schema import upgrade  # noqa: E402
from gateway.bootstrap import Gateway  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.domain import fund as rules  # noqa: E402
from gateway.domain.ledger import JournalEntry, fund_holdings, fund_manager_position  # noqa: E402
from gateway.services import fund_accrual, funds  # noqa: E402
from gateway.services.ledger import verify  # noqa: E402
from gateway.services.merchants import create_merchant  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = date(2026, 12, 1)
FIGURE = "1.2345"
ACCRUAL_GOAL_SECONDS = 60
RATIO_GOAL = 0.5
# The floor: every holding gets units x R / 10,000 rounded down, in one statement.
FLOOR_SQL = """
UPDATE fund_holdings SET units = units + ((units * :r) - (((units * :r) % 100000000) + 100000000) % 100000000) / 100000000
WHERE fund_id = :fund
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--holders", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    name = f"paygate_bench_fund_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        return run(url, args.holders, args.workers)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def gateway_for(url: str) -> Gateway:
    gw = Gateway.from_settings(Settings.load({"database_url": url, "var_dir": "/tmp/paygate-bench-fund", "sandbox_latency_ms": 0}))
    gw.clock = lambda: datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing the day after DAY
    return gw


def run(url: str, holders: int, workers: int) -> int:
    upgrade(url)
    gw = gateway_for(url)
    merchant = create_merchant(gw, "Bench Fund Seller")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    started = time.perf_counter()
    floor_fund, accrual_fund = (seed(gw, merchant.id, pem, key, code, holders) for code in ("000001", "000002"))
    with gw.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    print(f"seeded 2 funds x {holders:,} holders with set-based SQL in {time.perf_counter() - started:.1f} s; "
          f"{multiprocessing.cpu_count()} cores on this machine", flush=True)

    r = rules.income_per_10k_int(Decimal(FIGURE))
    started = time.perf_counter()
    with gw.db.unit_of_work() as session:
        updated = session.execute(text(FLOOR_SQL), {"r": r, "fund": floor_fund}).rowcount
    floor_seconds = time.perf_counter() - started
    gw.db.dispose()

    accrual_seconds = accrue_in_parallel(url, accrual_fund, workers)
    view = fund_accrual._view(gw, _run_id(gw, accrual_fund))
    ratio = floor_seconds / accrual_seconds
    print(f"\nfloor    one UPDATE of {updated:,} holdings              {floor_seconds:7.2f} s  {updated / floor_seconds:>10,.0f} holders/s")
    print(f"accrual  {workers} workers, {view.holders:,} holders, chunks of {fund_accrual.CHUNK_HOLDERS:,}  {accrual_seconds:7.2f} s  {view.holders / accrual_seconds:>10,.0f} holders/s")
    print(f"ratio floor / accrual = {ratio:.2f} (goal >= {RATIO_GOAL}); accrual {'under' if accrual_seconds < ACCRUAL_GOAL_SECONDS else 'OVER'} the {ACCRUAL_GOAL_SECONDS} s goal")
    print(f"run: declared {view.declared:,} fen = credited {view.credited:,} + rounding {view.remainder:,}")

    problems = [problem for line in fund_accrual.reconcile(gw, DAY) if line.fund == accrual_fund for problem in line.problems]
    # The floor moved fund A's holdings outside the books on purpose: only fund B must verify.
    books = [problem for problem in verify(gw).problems if floor_fund not in problem]
    ok = view.status == "done" and view.holders == holders and not problems and not books
    print(f"checks: fund reconcile {'ok' if not problems else problems}; ledger verify {'ok' if not books else books[:3]} (fund A, the floor's, left aside)")
    return 0 if ok else 1


def seed(gw: Gateway, merchant_id: str, pem: str, key, code: str, holders: int) -> str:
    """A fund with `holders` holdings of 10.00 .. 10,009.99 units each, made in one statement,
    its units booked in one ledger entry, and the manager's signed figure for DAY."""
    fund = funds.create_fund(gw, merchant_id, funds.NewFund(code=code, name=f"Bench {code}", manager="E Fund", manager_public_key=pem))
    with gw.db.unit_of_work() as session:
        session.execute(text("""
            INSERT INTO fund_holdings (fund_id, customer_id, units, accrued_income, cumulative_income, created_at)
            SELECT :fund, 'cus_bench_' || :code || '_' || g, 1000 + (g::bigint * 7919) % 1000000, 0, 0, now()
            FROM generate_series(1, :holders) AS g
        """), {"fund": fund.id, "code": code, "holders": holders})
        total = session.execute(text("SELECT sum(units) FROM fund_holdings WHERE fund_id = :fund"), {"fund": fund.id}).scalar_one()
        session.execute(text("UPDATE funds SET units_outstanding = :total WHERE id = :fund"), {"total": total, "fund": fund.id})
        entry = JournalEntry("bench_seed", fund.id).debit(fund_manager_position(fund.id), int(total)).credit(fund_holdings(fund.id), int(total))
        ledger.post(session, entry)
    signature = base64.b64encode(key.sign(rules.signed_feed_message(DAY, FIGURE))).decode()
    funds.record_income(gw, merchant_id, fund.id, [funds.FeedLine(DAY, FIGURE, signature)])
    return fund.id


def _accrue_worker(url: str, fund_id: str, ready, go) -> None:
    gw = gateway_for(url)
    ready.wait()
    go.wait()
    fund_accrual.accrue_fund_day(gw, fund_id, DAY)


def accrue_in_parallel(url: str, fund_id: str, workers: int) -> float:
    """Seconds from the go signal until every worker is done with the fund-day."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(workers + 1), context.Event()
    processes = [context.Process(target=_accrue_worker, args=(url, fund_id, ready, go)) for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    started = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    if any(process.exitcode for process in processes):
        raise SystemExit("an accrual worker failed")
    return elapsed


def _run_id(gw: Gateway, fund_id: str) -> int:
    with gw.db.unit_of_work() as session:
        return session.execute(text("SELECT id FROM fund_accrual_runs WHERE fund_id = :fund AND day = :day"), {"fund": fund_id, "day": DAY}).scalar_one()


if __name__ == "__main__":
    sys.exit(main())
