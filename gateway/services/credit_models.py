"""Model versions: training on the platform's outcomes, validation, promotion, and the simulated
population a new platform trains on.

Training examples are `credit_observations`: the features as of a plan's start and the day (if
any) it first went 30+ days past due. With a label window W, an example counts once W has passed
since its start, and is bad if that day came within W. The most recent 20% of examples (by start
day) are the holdout; training sees only the older ones (a time-based split, as the model will be
used on later applicants than it learned from).
"""
from __future__ import annotations

import json
import logging
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.adapters.db.credit_models import CreditModelVersion, CreditObservation
from gateway.domain.clock import as_utc
from gateway.domain.credit.features import DEVICE_FEATURES, REPAYMENT_FEATURES, Value
from gateway.domain.credit.limits import LimitPolicy
from gateway.domain.credit.scorecard import Scale, Scorecard
from gateway.domain.credit.simulation import simulate
from gateway.domain.credit.validation import auc, calibration, gini, ks, psi, rounded
from gateway.domain.errors import Conflict, InvalidRequest, NotFound
from gateway.services.credit import DEVICE_MODEL, REPAYMENT_MODEL, CreditPorts, decode, encode, limit_policy
from gateway.services.read_models import ModelView

log = logging.getLogger(__name__)

SCALE = Scale(min=300, max=850, points=600, odds=50, pdo=20)
HOLDOUT_SHARE = 0.2
RECENT_DAYS = 30  # PSI compares training with the applicants of the last 30 days
MODEL_FEATURES = {DEVICE_MODEL: DEVICE_FEATURES + REPAYMENT_FEATURES, REPAYMENT_MODEL: REPAYMENT_FEATURES}
PREFIX = {DEVICE_MODEL: "dr", REPAYMENT_MODEL: "ro"}


@dataclass(frozen=True)
class Example:
    observed_on: date
    features: dict[str, Value]
    bad: int | None  # None: the label window has not passed yet


# ---- training ---------------------------------------------------------------------------------

def train(gw: CreditPorts, label_window_days: int, models: tuple[str, ...] = (DEVICE_MODEL, REPAYMENT_MODEL),
          advance: Callable[[int], None] | None = None) -> list[ModelView]:
    """Fit, validate and store one candidate version per model; `advance(1)` hears of each model stored."""
    from gateway.adapters.scorecard_training import train as fit  # optbinning: the `credit` extra

    today = as_utc(gw.clock()).date()
    trained = []
    for model in models:
        examples = _examples(gw, model, label_window_days, today)
        labelled = [e for e in examples if e.bad is not None]
        if len(labelled) < 100:
            raise InvalidRequest("not_enough_outcomes", f"{model}: {len(labelled)} examples whose {label_window_days}-day window has passed; at least 100 are needed.")
        cut = int(len(labelled) * (1 - HOLDOUT_SHARE))
        training, holdout = labelled[:cut], labelled[cut:]
        version = _next_version(gw, model, today)
        started = time.perf_counter()
        table = fit([e.features for e in training], [e.bad for e in training], MODEL_FEATURES[model], version=version, model=model, scale=SCALE)
        card = Scorecard(table)
        metrics = {
            "label_window_days": label_window_days, "training_rows": len(training), "holdout_rows": len(holdout),
            "training_bad_rate": rounded(sum(e.bad for e in training) / len(training)),
            "holdout_from": holdout[0].observed_on.isoformat(), "holdout_to": holdout[-1].observed_on.isoformat(),
            **evaluate(card, holdout, limit_policy(gw)),
            "psi": stability(card, training, [e for e in examples if e.observed_on >= today - timedelta(days=RECENT_DAYS)]),
            "fit_seconds": rounded(time.perf_counter() - started),
        }
        with gw.db.unit_of_work() as session:
            row = CreditModelVersion(version=version, model=model, state="candidate", points_table=_canonical(table), metrics=metrics, trained_at=gw.clock())
            session.add(row)
        log.info("credit model %s trained: AUC %s on %s holdout examples", version, metrics["auc"], len(holdout))
        trained.append(_view(row))
        if advance is not None:
            advance(1)
    return trained


def evaluate(card: Scorecard, examples: list[Example], policy: LimitPolicy) -> dict:
    """AUC, KS and Gini of the scores against the outcomes, and the calibration by band."""
    scores = [card.score(e.features) for e in examples]
    bad = [e.bad for e in examples]
    area = auc(scores, bad)
    bands = calibration([policy.band_for(s).name for s in scores], bad, [card.scale.bad_rate(s) for s in scores])
    return {
        "auc": rounded(area), "gini": rounded(gini(area)), "ks": rounded(ks(scores, bad)),
        "calibration": [{"band": b.band, "count": b.count, "observed_bad_rate": rounded(b.observed_bad_rate),
                         "expected_bad_rate": rounded(b.expected_bad_rate)} for b in bands],
    }


def stability(card: Scorecard, training: list[Example], recent: list[Example]) -> dict[str, str | None]:
    """PSI of each feature over the model's bins (missing as its own bin), training vs recent."""
    result: dict[str, str | None] = {}
    for feature in card.features:
        def histogram(examples: list[Example]) -> list[int]:
            counts = Counter(len(feature.bins) if e.features.get(feature.name) is None else bisect_right(feature.splits, e.features[feature.name])
                             for e in examples)
            return [counts.get(index, 0) for index in range(len(feature.bins) + 1)]
        result[feature.name] = rounded(psi(histogram(training), histogram(recent))) if recent else None
    return result


def _examples(gw: CreditPorts, model: str, label_window_days: int, today: date) -> list[Example]:
    query = select(CreditObservation).order_by(CreditObservation.observed_on, CreditObservation.id)
    if model == DEVICE_MODEL:
        query = query.where(CreditObservation.device_features.is_not(None))
    window = timedelta(days=label_window_days)
    examples = []
    with gw.db.unit_of_work() as session:
        for row in session.execute(query).scalars():
            features = decode(row.repayment_features) | (decode(row.device_features) if model == DEVICE_MODEL else {})
            matured = row.observed_on + window <= today
            bad = int(row.defaulted_on is not None and row.defaulted_on <= row.observed_on + window) if matured else None
            examples.append(Example(row.observed_on, features, bad))
    return examples


def _next_version(gw: CreditPorts, model: str, today: date) -> str:
    stem = f"{PREFIX[model]}-{today:%Y%m%d}-"
    with gw.db.unit_of_work() as session:
        taken = session.execute(select(func.count()).where(CreditModelVersion.version.like(f"{stem}%"))).scalar_one()
    return f"{stem}{taken + 1:02d}"


def _canonical(table: dict) -> str:
    return json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---- promotion --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Promotion:
    promoted: ModelView
    retired: ModelView | None
    candidate_auc: str
    live_auc: str | None  # the live version's AUC on the same holdout


def promote(gw: CreditPorts, version: str) -> Promotion:
    """Make a candidate live, only if it beats the live version of its model on the candidate's
    holdout (both scored on the same examples). The previous version is kept, retired."""
    with gw.db.unit_of_work() as session:
        candidate = _locked(session, version)
        if candidate.state != "candidate":
            raise Conflict("model_not_candidate", f"Model {version} is {candidate.state}; only a candidate can be promoted.")
        card = Scorecard.from_json(candidate.points_table)
        if card.monotonicity_violations():
            raise Conflict("model_not_monotonic", f"Model {version} breaks the declared trend of {', '.join(card.monotonicity_violations())}.")
        live = session.execute(
            select(CreditModelVersion).where(CreditModelVersion.model == candidate.model, CreditModelVersion.state == "live")
        ).scalar_one_or_none()
    metrics = candidate.metrics
    holdout = [e for e in _examples(gw, candidate.model, metrics["label_window_days"], as_utc(gw.clock()).date())
               if e.bad is not None and metrics["holdout_from"] <= e.observed_on.isoformat() <= metrics["holdout_to"]]
    candidate_auc = rounded(auc([card.score(e.features) for e in holdout], [e.bad for e in holdout]))
    live_auc = None
    if live is not None:
        live_card = Scorecard.from_json(live.points_table)
        live_auc = rounded(auc([live_card.score(e.features) for e in holdout], [e.bad for e in holdout]))
        if Decimal(candidate_auc) <= Decimal(live_auc):
            raise Conflict("model_not_better", f"Model {version} has AUC {candidate_auc} on its holdout; live {live.version} has {live_auc} there.")
    elif Decimal(candidate_auc) <= Decimal("0.5"):
        raise Conflict("model_not_better", f"Model {version} has AUC {candidate_auc} on its holdout: no better than chance.")
    now = gw.clock()
    try:
        promoted, previous = _make_live(gw, version, live, now)
    except IntegrityError:  # another promotion of this model committed first
        raise Conflict("model_changed", "Another version went live meanwhile; try again.") from None
    log.info("credit model %s live (AUC %s; was %s with %s)", version, candidate_auc, live.version if live else None, live_auc)
    return Promotion(promoted, previous, candidate_auc, live_auc)


def _make_live(gw: CreditPorts, version: str, live: CreditModelVersion | None, now: datetime) -> tuple[ModelView, ModelView | None]:
    with gw.db.unit_of_work() as session:
        candidate = _locked(session, version)
        previous = None
        current = session.execute(
            select(CreditModelVersion).where(CreditModelVersion.model == candidate.model, CreditModelVersion.state == "live").with_for_update()
        ).scalar_one_or_none()
        if candidate.state != "candidate":
            raise Conflict("model_not_candidate", f"Model {version} is {candidate.state}; only a candidate can be promoted.")
        if (current.version if current else None) != (live.version if live else None):
            raise Conflict("model_changed", "Another version went live meanwhile; try again.")
        if current is not None:
            current.state, current.retired_at = "retired", now
            previous = _view(current)
            session.flush()  # retired before the candidate goes live: one live version per model (unique index)
        candidate.state, candidate.promoted_at = "live", now
        return _view(candidate), previous


def _locked(session: Session, version: str) -> CreditModelVersion:
    row = session.execute(select(CreditModelVersion).where(CreditModelVersion.version == version).with_for_update()).scalar_one_or_none()
    if row is None:
        raise NotFound("credit_model", version, "version")
    return row


def register(gw: CreditPorts, table: dict, metrics: dict) -> ModelView:
    """Store a points table made elsewhere (an analyst's hand-tuned version) as a candidate."""
    card = Scorecard(table)
    with gw.db.unit_of_work() as session:
        row = CreditModelVersion(version=card.version, model=card.model, state="candidate", points_table=_canonical(table),
                                 metrics=metrics, trained_at=gw.clock())
        session.add(row)
    return _view(row)


def list_models(gw: CreditPorts) -> list[ModelView]:
    with gw.db.unit_of_work() as session:
        rows = session.execute(select(CreditModelVersion).order_by(CreditModelVersion.trained_at.desc(), CreditModelVersion.version.desc())).scalars()
        return [_view(row) for row in rows]


def _view(row: CreditModelVersion) -> ModelView:
    return ModelView(row.version, row.model, row.state, as_utc(row.trained_at), as_utc(row.promoted_at) if row.promoted_at else None,
                     as_utc(row.retired_at) if row.retired_at else None, row.metrics)


# ---- simulated population ---------------------------------------------------------------------

def load_simulation(gw: CreditPorts, customers: int, seed: int = 11, advance: Callable[[int], None] | None = None) -> int:
    """Replace the simulated training examples with a fresh population of `customers`;
    `advance(n)` hears of each batch of n applicants written."""
    if customers < 1:
        raise InvalidRequest("parameter_invalid", "Simulate at least one customer.", "customers")
    applicants = simulate(customers, as_utc(gw.clock()).date(), seed)
    rows = [{
        "source": "simulated", "subject": a.key, "plan_id": None, "observed_on": a.observed_on,
        "device_features": encode({k: v for k, v in a.features.items() if k in DEVICE_FEATURES}) if a.device_consent else None,
        "repayment_features": encode({k: v for k, v in a.features.items() if k in REPAYMENT_FEATURES}),
        "defaulted_on": a.defaulted_on,
    } for a in applicants]
    with gw.db.unit_of_work() as session:
        session.execute(delete(CreditObservation).where(CreditObservation.source == "simulated"))
        for start in range(0, len(rows), 2_000):
            session.execute(insert(CreditObservation), rows[start:start + 2_000])
            if advance is not None:
                advance(len(rows[start:start + 2_000]))
    return len(rows)
