"""What the dashboard's credit page shows (/dashboard/credit), read in SQL and returned as frozen
dataclasses: the limit policy in force, how the scope's customers fall into its bands by their
latest score, and, for an operator only, the open contests and the model versions.

`scope` is the merchant whose customers may be counted, or None for an operator (every merchant),
as in gateway.services.dashboard.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from gateway.adapters.db.credit_models import CreditModelVersion, CreditScore
from gateway.adapters.db.models import Customer, Merchant
from gateway.domain.clock import as_utc
from gateway.services.credit import CreditPorts, limit_policy, list_contests

NOT_SCORED = "not scored"


@dataclass(frozen=True)
class BandRow:
    name: str
    lowest: int | None  # the lowest score in the band; None for a band no longer in the policy
    limit: int | None  # fen, CNY; None for a band no longer in the policy
    customers: int  # customers whose latest score is in this band
    in_policy: bool = True


@dataclass(frozen=True)
class ContestRow:
    id: str
    customer_id: str
    merchant_id: str
    merchant_name: str
    reason: str
    opened_at: datetime


@dataclass(frozen=True)
class ModelRow:
    version: str
    model: str  # device+repayment | repayment_only
    state: str  # candidate | live | retired
    auc: str | None  # on the holdout, as the training wrote it
    trained_at: datetime

    @property
    def live(self) -> bool:
        return self.state == "live"


@dataclass(frozen=True)
class CreditOverview:
    bands: tuple[BandRow, ...]  # the policy's bands, best first; then any band of an earlier policy
    not_scored: int  # customers without a score (no live model yet, or never scored)
    fallback_limit: int  # fen: the limit of a customer never scored
    contests: tuple[ContestRow, ...]  # open ones, oldest first; empty unless an operator asks
    models: tuple[ModelRow, ...]  # newest first; empty unless an operator asks

    @property
    def scored(self) -> int:
        return sum(band.customers for band in self.bands)

    @property
    def customers(self) -> int:
        return self.scored + self.not_scored


def overview(gw: CreditPorts, scope: str | None) -> CreditOverview:
    policy = limit_policy(gw)
    latest = (select(CreditScore.customer_id, func.max(CreditScore.id).label("score_id"))
              .group_by(CreditScore.customer_id).subquery())
    query = (select(CreditScore.band, func.count().label("n")).select_from(Customer)
             .outerjoin(latest, latest.c.customer_id == Customer.id)
             .outerjoin(CreditScore, CreditScore.id == latest.c.score_id)
             .where(Customer.state == "active").group_by(CreditScore.band))
    if scope is not None:
        query = query.where(Customer.merchant_id == scope)
    models: tuple[ModelRow, ...] = ()
    with gw.db.unit_of_work() as session:
        counts = {band: n for band, n in session.execute(query).all()}
        if scope is None:
            rows = session.execute(
                select(CreditModelVersion.version, CreditModelVersion.model, CreditModelVersion.state, CreditModelVersion.metrics,
                       CreditModelVersion.trained_at)
                .order_by(CreditModelVersion.trained_at.desc(), CreditModelVersion.version.desc())
            ).all()
            models = tuple(ModelRow(r.version, r.model, r.state, _auc(r.metrics), as_utc(r.trained_at)) for r in rows)
            names = dict(session.execute(select(Merchant.id, Merchant.name)).all())
    not_scored = counts.pop(None, 0)
    bands = [BandRow(band.name, band.lowest, band.limit, counts.pop(band.name, 0)) for band in policy.bands]
    # Scored under an earlier policy whose band names are gone: still counted, never hidden.
    bands += [BandRow(name, None, None, n, in_policy=False) for name, n in sorted(counts.items())]
    contests: tuple[ContestRow, ...] = ()
    if scope is None:
        contests = tuple(ContestRow(c.id, c.customer_id, c.merchant_id, names.get(c.merchant_id, c.merchant_id), c.reason, c.created_at)
                         for c in list_contests(gw, "open"))
    return CreditOverview(tuple(bands), not_scored, gw.settings.installment_credit_limit, contests, models)


def _auc(metrics: dict | None) -> str | None:
    value = (metrics or {}).get("auc")
    return None if value is None else str(value)
