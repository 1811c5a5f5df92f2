"""Money-market funds: setting one up, the manager's signed daily income feed, and the published
yields. Read models are in services/read_models.py; rules live in gateway/domain/fund.py."""
from __future__ import annotations

import base64
import binascii
import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.adapters.db.fund_models import Fund, FundIncomeFigure
from gateway.adapters.db.lookup import owned
from gateway.domain import fund as rules
from gateway.domain.clock import beijing_date
from gateway.domain.errors import Conflict, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.services.read_models import DailyYield, FundView, ImportResult
from gateway.services.ports import StoragePorts, TransactionsPort

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewFund:
    code: str
    name: str
    manager: str
    manager_public_key: str
    carryover: rules.Carryover = rules.Carryover.DAILY
    cutoff: str = "15:00"
    fast_redemption_daily_cap: int = rules.DEFAULT_FAST_REDEMPTION_DAILY_CAP


def create_fund(gw: StoragePorts, merchant_id: str, new: NewFund) -> FundView:
    rules.parse_cutoff(new.cutoff)
    _manager_key(new.manager_public_key)
    if new.fast_redemption_daily_cap < 0:
        raise InvalidRequest("cap_invalid", "fast_redemption_daily_cap cannot be negative.", "fast_redemption_daily_cap")
    fund = Fund(
        id=new_id("fnd"), merchant_id=merchant_id, code=new.code, name=new.name, manager=new.manager, carryover=new.carryover.value,
        cutoff=new.cutoff, fast_redemption_daily_cap=new.fast_redemption_daily_cap, manager_public_key=new.manager_public_key,
        units_outstanding=0, accrued_outstanding=0, created_at=gw.clock(),
    )
    try:
        with gw.db.unit_of_work() as session:
            session.add(fund)
    except IntegrityError:
        raise Conflict("fund_exists", f"A fund with code {new.code} already exists.", "code") from None
    log.info("fund %s (%s %s) created", fund.id, fund.code, fund.name)
    return _view(fund, None)


def get_fund(gw: StoragePorts, merchant_id: str, fund_id: str) -> FundView:
    with gw.db.unit_of_work() as session:
        fund = owned_fund(session, merchant_id, fund_id)
        return _view(fund, _last_figure_day(session, fund.id))


def list_funds(gw: StoragePorts, merchant_id: str) -> list[FundView]:
    with gw.db.unit_of_work() as session:
        funds = session.execute(select(Fund).where(Fund.merchant_id == merchant_id).order_by(Fund.seq)).scalars().all()
        return [_view(fund, _last_figure_day(session, fund.id)) for fund in funds]


def merchant_of_fund(gw: TransactionsPort, fund_id: str) -> str:
    """The merchant a fund belongs to (operator commands name only the fund)."""
    with gw.db.unit_of_work() as session:
        merchant_id = session.execute(select(Fund.merchant_id).where(Fund.id == fund_id)).scalar_one_or_none()
    if merchant_id is None:
        raise NotFound("fund", fund_id)
    return merchant_id


def owned_fund(session: Session, merchant_id: str, fund_id: str, lock: bool = False, param: str = "fund") -> Fund:
    return owned(session, Fund, merchant_id, fund_id, "fund", param=param, lock=lock)


def _view(fund: Fund, latest: date | None) -> FundView:
    return FundView(fund.id, fund.code, fund.name, fund.manager, fund.carryover, fund.cutoff, fund.fast_redemption_daily_cap,
                    fund.units_outstanding, latest, fund.created_at)


# ---- the manager's daily feed ------------------------------------------------------------------

@dataclass(frozen=True)
class FeedLine:
    day: date
    income_per_10k: str  # as the manager wrote it: the signature covers these exact characters
    signature: str  # base64 Ed25519


def record_income(gw: StoragePorts, merchant_id: str, fund_id: str, lines: list[FeedLine]) -> ImportResult:
    """Record the manager's signed figures, all or nothing: a forged line, a gap, a changed
    figure for a day already recorded, a figure out of range or a day not over yet refuses the
    whole batch. The same line twice is a no-op. The income itself is credited by accrual."""
    today = beijing_date(gw.clock())
    recorded, unchanged = [], []
    with gw.db.unit_of_work() as session:
        fund = owned_fund(session, merchant_id, fund_id, lock=True)  # one feed writer per fund at a time
        key = _manager_key(fund.manager_public_key)
        last = _last_figure_day(session, fund.id)
        known = {row.day: row for row in session.execute(select(FundIncomeFigure).where(
            FundIncomeFigure.fund_id == fund.id, FundIncomeFigure.day.in_([line.day for line in lines]))).scalars()}
        for line in lines:
            figure = rules.parse_income_figure(line.income_per_10k)
            _check_signature(key, line)
            if line.day in known:
                if known[line.day].income_per_10k != figure:
                    raise rules.FeedRefused("figure_changed", f"{line.day} was already recorded as {known[line.day].income_per_10k}; a figure never changes.", "income_per_10k")
                unchanged.append(line.day)
                continue
            if line.day >= today:
                raise rules.FeedRefused("feed_date_not_over", f"{line.day} is not over yet in Beijing; its figure comes after it ends.", "date")
            rules.check_feed_order(line.day, last)
            session.add(FundIncomeFigure(fund_id=fund.id, day=line.day, income_per_10k=figure, signature=line.signature, received_at=gw.clock()))
            known[line.day] = FundIncomeFigure(fund_id=fund.id, day=line.day, income_per_10k=figure)
            last = line.day
            recorded.append(line.day)
    if recorded:
        log.info("fund %s: income figures recorded for %s .. %s", fund_id, recorded[0], recorded[-1])
    return ImportResult(recorded, unchanged)


def parse_feed_file(text: str) -> list[FeedLine]:
    """The manager's daily file: one line per natural day, `date,income_per_10k,signature`
    (a header line naming the columns is allowed)."""
    lines = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or (number == 1 and row[0].strip().lower() == "date"):
            continue
        if len(row) != 3:
            raise rules.FeedRefused("feed_line_invalid", f"line {number}: expected date,income_per_10k,signature.", "file")
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            raise rules.FeedRefused("feed_line_invalid", f"line {number}: {row[0]!r} is not a YYYY-MM-DD date.", "file") from None
        lines.append(FeedLine(day, row[1].strip(), row[2].strip()))
    return lines


def _manager_key(pem: str) -> ed25519.Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, AttributeError):
        raise InvalidRequest("manager_public_key_invalid", "manager_public_key must be an Ed25519 public key in PEM.", "manager_public_key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise InvalidRequest("manager_public_key_invalid", "manager_public_key must be an Ed25519 public key in PEM.", "manager_public_key")
    return key


def _check_signature(key: ed25519.Ed25519PublicKey, line: FeedLine) -> None:
    try:
        key.verify(base64.b64decode(line.signature, validate=True), rules.signed_feed_message(line.day, line.income_per_10k))
    except (InvalidSignature, binascii.Error, ValueError):
        raise rules.FeedRefused("signature_invalid", f"The manager's signature on {line.day} does not verify.", "signature") from None


def _last_figure_day(session: Session, fund_id: str) -> date | None:
    return session.execute(select(func.max(FundIncomeFigure.day)).where(FundIncomeFigure.fund_id == fund_id)).scalar_one()


# ---- yields ------------------------------------------------------------------------------------

def yields(gw: StoragePorts, merchant_id: str, fund_id: str, first: date | None, last: date | None) -> list[DailyYield]:
    """Each natural day's figure and the 7-day annualized yield ending that day."""
    with gw.db.unit_of_work() as session:
        fund = owned_fund(session, merchant_id, fund_id)
        query = select(FundIncomeFigure.day, FundIncomeFigure.income_per_10k).where(FundIncomeFigure.fund_id == fund.id)
        if first:
            query = query.where(FundIncomeFigure.day >= first - timedelta(days=6))
        if last:
            query = query.where(FundIncomeFigure.day <= last)
        figures = dict(session.execute(query.order_by(FundIncomeFigure.day)).all())
    carryover = rules.Carryover(fund.carryover)
    published = []
    for day, figure in figures.items():
        if first and day < first:
            continue
        annualized = rules.seven_day_annualized_ending(figures, day, carryover)
        published.append(DailyYield(day, Decimal(figure).quantize(rules.INCOME_QUANTUM), annualized))
    return published
