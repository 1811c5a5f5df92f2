"""Daily accrual of fund income, at the scale of a million holders.

One fund-day is one accrual run (unique per fund and day: a second worker finds it claimed).
The run splits the fund's holdings into ranges of `seq` (chunks); workers take pending chunks with
SKIP LOCKED and credit each in one transaction with set-based SQL: every holder's income for the
day goes into fund_holder_income and onto the holding in one statement (PostgreSQL; two on
SQLite). A worker that dies mid-chunk rolls back and the chunk is taken again, so a crash resumes
and nothing is credited twice. When no chunk is left, one worker closes the run under its row
lock: one aggregated ledger entry for the fund-day (declared = credited + rounding remainder),
the fund's totals, and one `fund.income.credited` event.

A holding's units on day D are its units now less the movements effective after D
(fund_movements), so income is right even when the figure arrives after holders moved money.
Days are accrued in order: a day's income (daily carryover) earns from the next day on.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Date, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.fund_models import Fund, FundAccrualChunk, FundAccrualRun, FundHolderIncome, FundHolding, FundIncomeFigure
from gateway.adapters.db.models import LedgerAccount, LedgerPosting
from gateway.adapters.db.upsert import insert_if_absent
from gateway.domain import fund as rules
from gateway.domain import ledger as books
from gateway.domain.errors import Conflict, NotFound
from gateway.services import events
from gateway.observability.metrics import timed_fund_accrual
from gateway.services.fund_orders import FundPorts, check_payouts, confirm_due, pay_due, repay_advances

log = logging.getLogger(__name__)

# Holders per chunk: big enough that the per-statement overhead vanishes, small enough that two
# workers share a fund-day evenly and a crash redoes little.
CHUNK_HOLDERS = 50_000


@dataclass(frozen=True)
class AccrualView:
    fund: str
    day: date
    income_per_10k: Decimal
    status: str  # running | done
    holders: int
    units_earning: int
    declared: int
    credited: int
    remainder: int


def run_once(gw: FundPorts) -> int:
    """The `fund` worker queue: confirm due subscriptions, accrue the next day of each fund whose
    figure has arrived, pay due normal redemptions, ask banks about unanswered payouts, and book
    the manager's settlement of yesterday's fast redemptions."""
    done = confirm_due(gw)
    for fund_id, day in next_days_to_accrue(gw):
        view = accrue_fund_day(gw, fund_id, day)
        done += view.status == "done"
    return done + pay_due(gw) + check_payouts(gw) + repay_advances(gw)


def next_days_to_accrue(gw: FundPorts) -> list[tuple[str, date]]:
    """(fund, day) for each fund's earliest figure not yet fully accrued."""
    with gw.db.unit_of_work() as session:
        finished = select(FundAccrualRun.id).where(FundAccrualRun.fund_id == FundIncomeFigure.fund_id, FundAccrualRun.day == FundIncomeFigure.day,
                                                   FundAccrualRun.status == "done").exists()
        rows = session.execute(
            select(FundIncomeFigure.fund_id, func.min(FundIncomeFigure.day)).where(~finished).group_by(FundIncomeFigure.fund_id)
        ).all()
    return [(fund_id, day) for fund_id, day in rows]


def accrue(gw: FundPorts, day: date, fund_id: str | None = None, advance: Callable[[int], None] | None = None) -> list[AccrualView]:
    """`paygate fund accrue --date D`: accrue every fund (or one) up to and including `day`, in
    order. Safe to run twice and beside workers: finished days are left as they are. `advance(1)`
    is told each fund-day accrued (the command's progress)."""
    confirm_due(gw)
    with gw.db.unit_of_work() as session:
        query = select(Fund.id).order_by(Fund.seq)
        funds = list(session.execute(query.where(Fund.id == fund_id) if fund_id else query).scalars())
        if fund_id and not funds:
            raise NotFound("fund", fund_id)
    views = []
    for fund in funds:
        with gw.db.unit_of_work() as session:
            pending = list(session.execute(
                select(FundIncomeFigure.day).where(FundIncomeFigure.fund_id == fund, FundIncomeFigure.day <= day).order_by(FundIncomeFigure.day)
                .where(~select(FundAccrualRun.id).where(FundAccrualRun.fund_id == fund, FundAccrualRun.day == FundIncomeFigure.day, FundAccrualRun.status == "done").exists())
            ).scalars())
        for pending_day in pending:
            views.append(accrue_fund_day(gw, fund, pending_day))
            if advance is not None:
                advance(1)
    return views


def accrue_fund_day(gw: FundPorts, fund_id: str, day: date) -> AccrualView:
    """Accrue one fund-day: claim (or join) its run, credit chunks until none is left, close it
    (timed: paygate_fund_accrual_duration_seconds)."""
    with timed_fund_accrual():
        run_id = _start_run(gw, fund_id, day)
        while _credit_one_chunk(gw, run_id):
            pass
        _close_run(gw, run_id)
    return _view(gw, run_id)


def _start_run(gw: FundPorts, fund_id: str, day: date) -> int:
    with gw.db.unit_of_work() as session:
        figure = session.get(FundIncomeFigure, (fund_id, day))
        if figure is None:
            raise NotFound("income figure", f"{fund_id} {day}", "date")
        previous = session.get(FundIncomeFigure, (fund_id, day - timedelta(days=1)))
        if previous is not None and not _run_done(session, fund_id, previous.day):
            raise Conflict("accrual_out_of_order", f"{previous.day} must be accrued before {day}.", "date")
        # The unique (fund, day) row decides who creates the run; a second worker waits for the
        # first one's commit here and then finds it.
        if insert_if_absent(session, FundAccrualRun, ["fund_id", "day"], fund_id=fund_id, day=day, income_per_10k=figure.income_per_10k,
                            status="running", units_earning=0, declared=0, credited=0, remainder=0, holders=0, converted=0, started_at=gw.clock()):
            run_id = _run(session, fund_id, day).id
            _plan_chunks(session, run_id, fund_id)
        return _run(session, fund_id, day).id


def _plan_chunks(session: Session, run_id: int, fund_id: str) -> None:
    first, last = session.execute(select(func.min(FundHolding.seq), func.max(FundHolding.seq)).where(FundHolding.fund_id == fund_id)).one()
    chunks = []
    if first is not None:
        for number, start in enumerate(range(first, last + 1, CHUNK_HOLDERS)):
            chunks.append({"run_id": run_id, "number": number, "first_seq": start, "last_seq": min(start + CHUNK_HOLDERS - 1, last),
                           "status": "pending", "holders": 0, "units_earning": 0, "credited": 0, "converted": 0})
    if chunks:
        session.connection().execute(FundAccrualChunk.__table__.insert(), chunks)


def _credit_one_chunk(gw: FundPorts, run_id: int) -> bool:
    """Take one pending chunk and credit its holders; False when none is free."""
    with gw.db.unit_of_work() as session:
        chunk = session.execute(
            select(FundAccrualChunk).where(FundAccrualChunk.run_id == run_id, FundAccrualChunk.status == "pending")
            .order_by(FundAccrualChunk.number).limit(1).with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if chunk is None:
            return False
        run = session.get(FundAccrualRun, run_id)
        fund = _fund(session, run.fund_id)
        monthly = fund.carryover == rules.Carryover.MONTHLY.value
        if monthly and rules.is_first_trading_day_of_month(gw.calendar, run.day):
            chunk.converted = _convert_accrued(session, fund.id, chunk)
        holders, units_earning, credited = _credit(session, fund.id, run.day, rules.income_per_10k_int(run.income_per_10k), chunk, monthly)
        chunk.holders, chunk.units_earning, chunk.credited, chunk.status = holders, units_earning, credited, "done"
        # Kept equal to the holdings at every commit (ledger verify counts runs still open).
        added_units = chunk.converted + (0 if monthly else credited)
        added_accrued = (credited if monthly else 0) - chunk.converted
        session.execute(update(Fund).where(Fund.id == fund.id).values(
            units_outstanding=Fund.units_outstanding + added_units, accrued_outstanding=Fund.accrued_outstanding + added_accrued))
    return True


def _convert_accrued(session: Session, fund_id: str, chunk: FundAccrualChunk) -> int:
    """Monthly carryover: on the month's first trading day the accrued income becomes units
    (and earns from that day)."""
    converted = session.execute(
        select(func.coalesce(func.sum(FundHolding.accrued_income), 0)).where(FundHolding.fund_id == fund_id, FundHolding.seq.between(chunk.first_seq, chunk.last_seq))
    ).scalar_one()
    session.execute(
        update(FundHolding).where(FundHolding.fund_id == fund_id, FundHolding.seq.between(chunk.first_seq, chunk.last_seq), FundHolding.accrued_income != 0)
        .values(units=FundHolding.units + FundHolding.accrued_income, accrued_income=0)
    )
    return int(converted)


# Income in hundredths, rounded down exactly with integers on both databases:
# floor(units x R / 10,000) with R in ten-thousandths is floor(units x r / 10^8), and
# floor(x / d) = (x - ((x % d) + d) % d) / d whatever the sign of x (% keeps the dividend's sign).
_EARNING = "h.units - COALESCE(m.later, 0)"
_INCOME = f"((({_EARNING}) * :r) - (((({_EARNING}) * :r) % 100000000) + 100000000) % 100000000) / 100000000"
_EARNERS = f"""
    SELECT h.seq AS holding_seq, :day AS day, {_EARNING} AS units_earning, {_INCOME} AS income
    FROM fund_holdings h
    LEFT JOIN (SELECT holding_seq, CAST(SUM(units) AS BIGINT) AS later FROM fund_movements
               WHERE fund_id = :fund AND effective_date > :day AND holding_seq BETWEEN :first AND :last
               GROUP BY holding_seq) m ON m.holding_seq = h.seq
    WHERE h.fund_id = :fund AND h.seq BETWEEN :first AND :last AND {_EARNING} > 0
"""


def _credit(session: Session, fund_id: str, day: date, r: int, chunk: FundAccrualChunk, monthly: bool) -> tuple[int, int, int]:
    """Credit one chunk's holders for the day: (holders, units earning, income credited)."""
    target = "accrued_income = accrued_income + c.income" if monthly else "units = units + c.income"
    params = {"fund": fund_id, "day": day, "r": r, "first": chunk.first_seq, "last": chunk.last_seq}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        row = connection.execute(_typed(f"""
            WITH credited AS (
                INSERT INTO fund_holder_income (holding_seq, day, units_earning, income) {_EARNERS}
                RETURNING holding_seq, units_earning, income
            ), moved AS (
                UPDATE fund_holdings SET {target}, cumulative_income = cumulative_income + c.income
                FROM credited c WHERE fund_holdings.seq = c.holding_seq AND c.income <> 0
            )
            SELECT count(*), COALESCE(sum(units_earning), 0), COALESCE(sum(income), 0) FROM credited
        """), params).one()
        return int(row[0]), int(row[1]), int(row[2])
    connection.execute(_typed(f"INSERT INTO fund_holder_income (holding_seq, day, units_earning, income) {_EARNERS}"), params)
    connection.execute(_typed(f"""
        UPDATE fund_holdings SET {target}, cumulative_income = cumulative_income + c.income
        FROM (SELECT holding_seq, income FROM fund_holder_income WHERE day = :day AND holding_seq BETWEEN :first AND :last) c
        WHERE fund_holdings.seq = c.holding_seq AND c.income <> 0
    """), params)
    row = connection.execute(_typed(
        "SELECT count(*), COALESCE(sum(units_earning), 0), COALESCE(sum(income), 0) FROM fund_holder_income WHERE day = :day AND holding_seq BETWEEN :first AND :last"
    ), params).one()
    return int(row[0]), int(row[1]), int(row[2])


def _typed(sql: str):
    return text(sql).bindparams(bindparam("day", type_=Date))


def _close_run(gw: FundPorts, run_id: int) -> None:
    """Once every chunk is credited: book the fund-day (one entry), raise the event, mark done.
    Under the run's row lock, so exactly one worker does it."""
    with gw.db.unit_of_work() as session:
        run = session.execute(select(FundAccrualRun).where(FundAccrualRun.id == run_id).with_for_update()).scalar_one()
        if run.status == "done":
            return
        if session.execute(select(FundAccrualChunk.number).where(FundAccrualChunk.run_id == run_id, FundAccrualChunk.status == "pending").limit(1)).first():
            return  # another worker is still crediting a chunk; it closes the run
        holders, units_earning, credited, converted = (int(value) for value in session.execute(
            select(func.coalesce(func.sum(FundAccrualChunk.holders), 0), func.coalesce(func.sum(FundAccrualChunk.units_earning), 0),
                   func.coalesce(func.sum(FundAccrualChunk.credited), 0), func.coalesce(func.sum(FundAccrualChunk.converted), 0))
            .where(FundAccrualChunk.run_id == run_id)).one())
        fund = _fund(session, run.fund_id)
        declared = rules.declared_income(units_earning, Decimal(run.income_per_10k))
        run.holders, run.units_earning, run.credited, run.converted = holders, units_earning, credited, converted
        run.declared, run.remainder = declared, declared - credited
        entry = books.fund_income_entry(reference=f"{fund.id}:{run.day.isoformat()}", fund_id=fund.id, declared=declared, credited=credited,
                                        remainder=run.remainder, converted=converted, monthly=fund.carryover == rules.Carryover.MONTHLY.value)
        if entry.lines:
            run.ledger_transaction_id = ledger.post(session, entry)
        run.status, run.finished_at = "done", gw.clock()
        events.record(session, fund.merchant_id, "fund.income.credited", {
            "object": "fund_income", "fund": fund.id, "date": run.day.isoformat(), "income_per_10k": str(Decimal(run.income_per_10k).quantize(rules.INCOME_QUANTUM)),
            "holders": holders, "units_earning": units_earning, "declared": declared, "credited": credited, "rounding": run.remainder,
        }, gw.clock())
    log.info("fund %s %s: %s holders credited %s of %s declared (rounding %s)", run.fund_id, run.day, holders, credited, declared, run.remainder)


def _run(session: Session, fund_id: str, day: date) -> FundAccrualRun:
    return session.execute(select(FundAccrualRun).where(FundAccrualRun.fund_id == fund_id, FundAccrualRun.day == day)).scalar_one()


def _run_done(session: Session, fund_id: str, day: date) -> bool:
    return session.execute(select(FundAccrualRun.status).where(FundAccrualRun.fund_id == fund_id, FundAccrualRun.day == day)).scalar_one_or_none() == "done"


def _view(gw: FundPorts, run_id: int) -> AccrualView:
    with gw.db.unit_of_work() as session:
        run = session.get(FundAccrualRun, run_id)
        return AccrualView(run.fund_id, run.day, Decimal(run.income_per_10k), run.status, run.holders, run.units_earning, run.declared, run.credited, run.remainder)


# ---- checks: ledger verify and the daily reconciliation ----------------------------------------

def fund_book_problems(session: Session) -> list[str]:
    """For `paygate ledger verify`: per fund, the holdings add up to the units outstanding, and
    the ledger's holdings and income-payable accounts say the same (counting chunks already
    credited by a run not yet closed)."""
    problems = []
    sums = dict((fund_id, (int(units), int(accrued))) for fund_id, units, accrued in session.execute(
        select(FundHolding.fund_id, func.sum(FundHolding.units), func.sum(FundHolding.accrued_income)).group_by(FundHolding.fund_id)).all())
    in_flight = dict((fund_id, (int(credited), int(converted))) for fund_id, credited, converted in session.execute(
        select(FundAccrualRun.fund_id, func.sum(FundAccrualChunk.credited), func.sum(FundAccrualChunk.converted))
        .join(FundAccrualChunk, FundAccrualChunk.run_id == FundAccrualRun.id)
        .where(FundAccrualRun.status == "running", FundAccrualChunk.status == "done").group_by(FundAccrualRun.fund_id)).all())
    for fund in session.execute(select(Fund)).scalars():
        units, accrued = sums.get(fund.id, (0, 0))
        if units != fund.units_outstanding:
            problems.append(f"fund {fund.id} ({fund.code}): holdings sum to {units} units but the fund has {fund.units_outstanding} outstanding")
        if accrued != fund.accrued_outstanding:
            problems.append(f"fund {fund.id} ({fund.code}): accrued income sums to {accrued} but the fund records {fund.accrued_outstanding}")
        monthly = fund.carryover == rules.Carryover.MONTHLY.value
        credited, converted = in_flight.get(fund.id, (0, 0))
        booked_units = _credit_balance(session, books.fund_holdings(fund.id).code) + converted + (0 if monthly else credited)
        booked_accrued = _credit_balance(session, books.fund_income_payable(fund.id).code) - converted + (credited if monthly else 0)
        if booked_units != fund.units_outstanding:
            problems.append(f"fund {fund.id} ({fund.code}): ledger holdings account is {booked_units} but {fund.units_outstanding} units are outstanding")
        if booked_accrued != fund.accrued_outstanding:
            problems.append(f"fund {fund.id} ({fund.code}): ledger income payable is {booked_accrued} but {fund.accrued_outstanding} is accrued")
    return problems


def _credit_balance(session: Session, code: str) -> int:
    return -int(session.execute(select(func.coalesce(func.sum(LedgerAccount.balance), 0)).where(LedgerAccount.code == code)).scalar_one())


@dataclass(frozen=True)
class ReconcileLine:
    fund: str
    code: str
    day: date
    income_per_10k: Decimal | None
    declared: int
    credited: int
    rounding: int
    holders: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def reconcile(gw: FundPorts, day: date) -> list[ReconcileLine]:
    """`paygate fund reconcile --date D`: per fund, the day's income as the manager's figure
    makes it (units earning x R / 10,000) against what holders were credited, the rounding
    account's share, the ledger entry and the per-holder records."""
    lines = []
    with gw.db.unit_of_work() as session:
        for fund in session.execute(select(Fund).order_by(Fund.seq)).scalars():
            figure = session.get(FundIncomeFigure, (fund.id, day))
            run = session.execute(select(FundAccrualRun).where(FundAccrualRun.fund_id == fund.id, FundAccrualRun.day == day)).scalar_one_or_none()
            if figure is None:
                first = session.execute(select(func.min(FundIncomeFigure.day)).where(FundIncomeFigure.fund_id == fund.id)).scalar_one()
                if first is None or first > day:
                    continue  # the fund's feed had not begun
                lines.append(ReconcileLine(fund.id, fund.code, day, None, 0, 0, 0, 0, ["no figure from the manager for this day"]))
                continue
            if run is None or run.status != "done":
                lines.append(ReconcileLine(fund.id, fund.code, day, figure.income_per_10k, 0, 0, 0, 0, ["the day is not accrued yet"]))
                continue
            problems = []
            expected = rules.declared_income(run.units_earning, Decimal(figure.income_per_10k))
            if run.declared != expected:
                problems.append(f"declared {run.declared} but {run.units_earning} units x {figure.income_per_10k} / 10,000 = {expected}")
            if run.credited + run.remainder != run.declared:
                problems.append(f"credited {run.credited} + rounding {run.remainder} != declared {run.declared}")
            holders, units_earning, credited = (int(value) for value in session.execute(
                select(func.count(), func.coalesce(func.sum(FundHolderIncome.units_earning), 0), func.coalesce(func.sum(FundHolderIncome.income), 0))
                .join(FundHolding, FundHolding.seq == FundHolderIncome.holding_seq)
                .where(FundHolderIncome.day == day, FundHolding.fund_id == fund.id)).one())
            if (holders, units_earning, credited) != (run.holders, run.units_earning, run.credited):
                problems.append(f"per-holder records: {holders} holders, {units_earning} units, {credited} credited; the run says {run.holders}, {run.units_earning}, {run.credited}")
            booked = _booked_declared(session, run, fund.id)
            if booked != run.declared:
                problems.append(f"the ledger entry books {booked} from the manager, not {run.declared}")
            lines.append(ReconcileLine(fund.id, fund.code, day, figure.income_per_10k, run.declared, run.credited, run.remainder, run.holders, problems))
    return lines


def _booked_declared(session: Session, run: FundAccrualRun, fund_id: str) -> int:
    if run.ledger_transaction_id is None:
        return 0
    return int(session.execute(
        select(func.coalesce(func.sum(LedgerPosting.amount), 0)).join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerPosting.transaction_id == run.ledger_transaction_id, LedgerAccount.code == books.fund_manager_position(fund_id).code)
    ).scalar_one())


def _fund(session: Session, fund_id: str) -> Fund:
    return session.execute(select(Fund).where(Fund.id == fund_id)).scalar_one()
