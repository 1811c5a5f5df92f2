"""The fund under concurrency on PostgreSQL (real row locks): 20 simultaneous redemptions never
cross the fast cap nor the holding; a day's accrual runs once with two workers, twice in a row,
and after a crash halfway."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from gateway.adapters.db.fund_models import FundAccrualRun, FundHolderIncome, FundHolding
from gateway.adapters.db.models import Event, LedgerTransaction
from gateway.services import fund_accrual
from gateway.services.ledger import verify
from tests.integration.conftest import Shop, TimeMachine, with_bank_latency
from tests.integration.fund_support import Manager, beijing, create_fund, feed, fund_customer, holding, income, redeem, run_fund_queue, subscribe
from tests.integration.test_idempotency import _concurrently

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def pg_time(pg_gateway):
    machine = TimeMachine(pg_gateway)
    yield machine
    machine.restore()


def _holders(shop, machine, fund, amounts, monday=date(2026, 12, 14)):
    machine.travel_to(beijing(monday))
    people = []
    for amount in amounts:
        customer, card = fund_customer(shop)
        assert subscribe(shop, customer, card, fund, amount).status_code == 200
        people.append((customer, card))
    machine.travel_to(beijing(monday + timedelta(days=1), 9))
    run_fund_queue(shop.gw)
    return people


def test_twenty_concurrent_fast_redemptions_never_cross_the_cap(pg_gateway, pg_time):
    shop = Shop(with_bank_latency(pg_gateway, 20))
    fund = create_fund(shop, Manager())
    [(customer, card)] = _holders(shop, pg_time, fund, [2_000_000])
    pg_time.travel_to(beijing(date(2026, 12, 15), 11))

    responses = _concurrently(20, lambda: redeem(shop, customer, card, fund, 70_000))

    accepted = [r for r in responses if r.status_code == 200]
    assert len(accepted) == 14  # 14 x 700.00 = 9,800.00 within the CNY 10,000.00 cap; a 15th would cross it
    assert {r.json["error"]["code"] for r in responses if r.status_code != 200} == {"fast_redemption_cap_exceeded"}
    assert holding(shop, customer, fund)["units"] == 2_000_000 - 980_000
    assert verify(pg_gateway).ok


def test_twenty_concurrent_redemptions_never_take_more_than_the_holding(pg_gateway, pg_time):
    shop = Shop(with_bank_latency(pg_gateway, 20))
    fund = create_fund(shop, Manager())
    [(customer, card)] = _holders(shop, pg_time, fund, [500_000])
    pg_time.travel_to(beijing(date(2026, 12, 15), 11))

    responses = _concurrently(20, lambda: redeem(shop, customer, card, fund, 70_000, speed="normal"))

    assert sum(r.status_code == 200 for r in responses) == 7
    assert {r.json["error"]["code"] for r in responses if r.status_code != 200} == {"insufficient_units"}
    assert holding(shop, customer, fund)["units"] == 500_000 - 490_000
    assert verify(pg_gateway).ok


AMOUNTS = [123_456, 500_000, 77_777, 1_000_000, 333_333, 250_001]


def _accrued_fund(shop, machine, monkeypatch):
    """A fund of six holders in chunks of two, with the figures of 16..18 December."""
    monkeypatch.setattr(fund_accrual, "CHUNK_HOLDERS", 2)
    manager = Manager()
    fund = create_fund(shop, manager)
    people = _holders(shop, machine, fund, AMOUNTS, monday=date(2026, 12, 14))  # earn from Tuesday 15 December
    machine.travel_to(beijing(date(2026, 12, 19)))
    feed(shop, manager, fund, date(2026, 12, 15), ["1.3579", "2.4680", "0.9999"])
    return fund, people


def _check_day(shop, fund, people, day, figure, units_before):
    expected = [income(units, figure) for units in units_before]
    assert [holding(shop, customer, fund)["units"] for customer, _card in people] == [u + e for u, e in zip(units_before, expected)]
    with shop.gw.db.unit_of_work() as session:
        run = session.execute(select(FundAccrualRun).where(FundAccrualRun.fund_id == fund["id"], FundAccrualRun.day == day)).scalar_one()
        credited_rows = session.execute(select(func.count(), func.sum(FundHolderIncome.income)).join(FundHolding, FundHolding.seq == FundHolderIncome.holding_seq)
                                        .where(FundHolding.fund_id == fund["id"], FundHolderIncome.day == day)).one()
        events = session.execute(select(func.count()).select_from(Event).where(Event.type == "fund.income.credited", Event.data["date"].as_string() == day.isoformat(),
                                                                              Event.data["fund"].as_string() == fund["id"])).scalar_one()
        postings = session.execute(select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.reference == f"{fund['id']}:{day}")).scalar_one()
    assert (run.status, run.credited, run.holders) == ("done", sum(expected), len(people))
    assert run.credited + run.remainder == run.declared
    assert tuple(credited_rows) == (len(people), sum(expected))
    assert (events, postings) == (1, 1)
    return [u + e for u, e in zip(units_before, expected)]


def test_accrual_runs_once_with_two_workers_and_when_run_twice(pg_gateway, pg_time, monkeypatch):
    shop = Shop(pg_gateway)
    fund, people = _accrued_fund(shop, pg_time, monkeypatch)
    errors = []

    def worker():
        try:
            fund_accrual.accrue_fund_day(pg_gateway, fund["id"], date(2026, 12, 15))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    units = _check_day(shop, fund, people, date(2026, 12, 15), "1.3579", AMOUNTS)

    fund_accrual.accrue(pg_gateway, date(2026, 12, 15), fund["id"])  # again: nothing moves
    _check_day(shop, fund, people, date(2026, 12, 15), "1.3579", AMOUNTS)
    fund_accrual.accrue(pg_gateway, date(2026, 12, 16), fund["id"])
    _check_day(shop, fund, people, date(2026, 12, 16), "2.4680", units)
    assert verify(pg_gateway).ok


def test_accrual_resumes_after_a_crash_halfway_and_never_credits_twice(pg_gateway, pg_time, monkeypatch):
    shop = Shop(pg_gateway)
    fund, people = _accrued_fund(shop, pg_time, monkeypatch)
    real_credit, calls = fund_accrual._credit, []

    def crash_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_credit(*args, **kwargs)

    monkeypatch.setattr(fund_accrual, "_credit", crash_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        fund_accrual.accrue_fund_day(pg_gateway, fund["id"], date(2026, 12, 15))
    credited_so_far = [holding(shop, customer, fund)["units"] - amount for (customer, _), amount in zip(people, AMOUNTS)]
    assert sum(1 for c in credited_so_far if c) == 2  # one chunk of two holders committed, the next rolled back
    assert verify(pg_gateway).ok  # the books count a run still open

    monkeypatch.setattr(fund_accrual, "_credit", real_credit)
    fund_accrual.accrue(pg_gateway, date(2026, 12, 15), fund["id"])
    _check_day(shop, fund, people, date(2026, 12, 15), "1.3579", AMOUNTS)
    assert verify(pg_gateway).ok
