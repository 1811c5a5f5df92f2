"""Training with optbinning on the simulator recovers what the simulator planted: the signal
features carry the points, the noise features none, the holdout AUC is well above chance, and
the trained table keeps every declared trend."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapters.scorecard_training import train
from gateway.domain.credit.features import BY_NAME, DEVICE_FEATURES, FEATURES, REPAYMENT_FEATURES, Direction
from gateway.domain.credit.scorecard import Scale, Scorecard
from gateway.domain.credit.simulation import NOISE_FEATURES, SIGNAL_FEATURES, simulate
from gateway.domain.credit.validation import auc

TODAY = date(2026, 11, 30)
WINDOW = timedelta(days=183)
SCALE = Scale(300, 850, 600, 50, 20)


def _split(applicants):
    """Matured applicants by start day: the older 80% to train on, the newest 20% held out."""
    matured = sorted((a for a in applicants if a.observed_on + WINDOW <= TODAY), key=lambda a: (a.observed_on, a.key))
    labelled = [(a.features, int(a.defaulted_on is not None and a.defaulted_on <= a.observed_on + WINDOW)) for a in matured]
    cut = int(len(labelled) * 0.8)
    return labelled[:cut], labelled[cut:]


@pytest.fixture(scope="module")
def trained():
    applicants = [a for a in simulate(9_000, TODAY, seed=5) if a.device_consent]
    training, holdout = _split(applicants)
    table = train([f for f, _ in training], [b for _, b in training], [spec.name for spec in FEATURES],
                  version="t-1", model="device+repayment", scale=SCALE)
    return Scorecard(table), holdout


def _spread(card: Scorecard, name: str) -> int:
    feature = next(f for f in card.features if f.name == name)
    points = [b.points for b in (*feature.bins, feature.missing)]
    return max(points) - min(points)


def test_training_recovers_the_planted_signal(trained):
    card, holdout = trained
    area = auc([card.score(f) for f, _ in holdout], [b for _, b in holdout])
    assert area > 0.68, area
    for name in NOISE_FEATURES:
        assert _spread(card, name) <= 3, (name, card.table)
    strong = [name for name in SIGNAL_FEATURES if _spread(card, name) >= 10]
    assert len(strong) >= 4, {name: _spread(card, name) for name in SIGNAL_FEATURES}


def test_the_written_table_is_plain_json_with_the_scale_and_a_text_for_every_bin(trained):
    card, _ = trained
    table = card.table
    assert table["scale"] == {"min": 300, "max": 850, "points": 600, "odds": 50, "pdo": 20}
    assert isinstance(table["base_points"], int)
    for entry in table["features"]:
        assert all(isinstance(b["points"], int) and b["text"] for b in entry["bins"]) and entry["missing"]["text"]
        assert [str(Decimal(s)) for s in entry["splits"]] == entry["splits"]
    assert card.monotonicity_violations() == []


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_better_value_never_lowers_a_trained_score(trained, data):
    card, holdout = trained
    features = dict(data.draw(st.sampled_from(holdout))[0])
    name = data.draw(st.sampled_from(DEVICE_FEATURES + REPAYMENT_FEATURES))
    value = features.get(name)
    if value is None:
        return
    step = data.draw(st.integers(min_value=1, max_value=400))
    delta = Decimal(step) / 100 if isinstance(value, Decimal) else step
    better = value + delta if BY_NAME[name].direction is Direction.HIGHER_IS_BETTER else value - delta
    assert card.score({**features, name: better}) >= card.score(features)
