"""Serving a scorecard from its JSON points table: reproducible, explainable, pure, and free of
optbinning; the features leave out what must never enter; the limit policy and the metrics."""
from __future__ import annotations

import copy
import doctest
import importlib
import itertools
import json
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.credit import features as F
from gateway.domain.credit import limits, scorecard, simulation, validation
from gateway.domain.credit.limits import LimitPolicy, PolicyError
from gateway.domain.credit.scorecard import MAX_REASONS, Scorecard, ScorecardError
from gateway.domain.credit.validation import auc, ks

credit_cli = importlib.import_module("gateway.entrypoints.cli.credit")  # the package's `credit` is the click group

TABLE = {
    "format": "paygate-scorecard/1", "version": "test-1", "model": "device+repayment",
    "scale": {"min": 300, "max": 850, "points": 600, "odds": 50, "pdo": 20},
    "base_points": 480,
    "features": [
        {"name": "device_tenure_days", "direction": "higher_is_better", "unit": "days", "splits": ["90", "365"],
         "bins": [{"points": 0, "text": "t0"}, {"points": 15, "text": "t1"}, {"points": 40, "text": "t2"}], "missing": {"points": 10, "text": "tm"}},
        {"name": "low_battery_day_share_30d", "direction": "lower_is_better", "unit": "share", "splits": ["0.1", "0.3"],
         "bins": [{"points": 30, "text": "b0"}, {"points": 12, "text": "b1"}, {"points": 0, "text": "b2"}], "missing": {"points": 14, "text": "bm"}},
        {"name": "on_time_share", "direction": "higher_is_better", "unit": "share", "splits": ["0.8", "0.95"],
         "bins": [{"points": 0, "text": "o0"}, {"points": 35, "text": "o1"}, {"points": 60, "text": "o2"}], "missing": {"points": 25, "text": "om"}},
        {"name": "worst_delinquency_days_6m", "direction": "lower_is_better", "unit": "days", "splits": ["1", "15"],
         "bins": [{"points": 50, "text": "w0"}, {"points": 20, "text": "w1"}, {"points": 0, "text": "w2"}], "missing": {"points": 30, "text": "wm"}},
        {"name": "outstanding_fen", "direction": "lower_is_better", "unit": "fen", "splits": ["500000"],
         "bins": [{"points": 8, "text": "f0"}, {"points": 0, "text": "f1"}], "missing": {"points": 0, "text": "fm"}},
    ],
}

shares = st.one_of(st.none(), st.decimals(min_value=0, max_value=1, places=2))
days = st.one_of(st.none(), st.integers(min_value=0, max_value=3000))
feature_values = st.fixed_dictionaries({
    "device_tenure_days": days, "low_battery_day_share_30d": shares, "on_time_share": shares,
    "worst_delinquency_days_6m": days, "outstanding_fen": st.one_of(st.none(), st.integers(min_value=0, max_value=10**8)),
})


def _points_by_hand(entry: dict, value) -> int:
    if value is None:
        return entry["missing"]["points"]
    index = sum(1 for split in entry["splits"] if Decimal(split) <= value)
    return entry["bins"][index]["points"]


@given(feature_values)
def test_the_score_is_the_base_plus_each_bins_points_and_the_reasons_are_the_largest_shortfalls(values):
    card = Scorecard(TABLE)
    assessment = card.assess(values)
    points = {entry["name"]: _points_by_hand(entry, values[entry["name"]]) for entry in TABLE["features"]}
    assert assessment.score == max(300, min(850, TABLE["base_points"] + sum(points.values())))
    assert {f.name: f.points for f in assessment.features} == points
    best = {entry["name"]: max(b["points"] for b in [*entry["bins"], entry["missing"]]) for entry in TABLE["features"]}
    shortfall = {name: best[name] - points[name] for name in points}
    reasons = [reason.code for reason in assessment.reasons]
    assert len(reasons) <= MAX_REASONS and all(shortfall[code] > 0 for code in reasons)
    assert [shortfall[code] for code in reasons] == sorted((shortfall[code] for code in reasons), reverse=True)
    left_out = [name for name in points if name not in reasons]
    if len(reasons) < MAX_REASONS:
        assert all(shortfall[name] == 0 for name in left_out)
    else:
        assert all(shortfall[name] <= shortfall[reasons[-1]] for name in left_out)
    for reason in assessment.reasons:
        assert reason.value == values[reason.code]
        assert reason.text == next(f.text for f in assessment.features if f.name == reason.code)


@given(feature_values, st.sampled_from([entry["name"] for entry in TABLE["features"]]), st.integers(min_value=1, max_value=500))
def test_a_better_value_never_lowers_the_score(values, name, step):
    card = Scorecard(TABLE)
    value = values[name]
    if value is None:
        return
    direction = F.BY_NAME[name].direction
    better_step = Decimal(step) / (100 if isinstance(value, Decimal) else 1)
    better = value + better_step if direction is F.Direction.HIGHER_IS_BETTER else max(value - better_step, 0)
    assert card.score({**values, name: better}) >= card.score(values)


def test_the_same_inputs_and_version_give_the_same_bytes_in_another_process():
    values = {"device_tenure_days": 120, "low_battery_day_share_30d": Decimal("0.20"), "on_time_share": Decimal("0.90"),
              "worst_delinquency_days_6m": 3, "outstanding_fen": None}
    here = Scorecard(TABLE).assess(values).to_json()
    assert here == Scorecard(copy.deepcopy(TABLE)).assess(dict(reversed(list(values.items())))).to_json()
    program = (
        "import json, sys; from decimal import Decimal; from gateway.domain.credit.scorecard import Scorecard; "
        "table, values = json.loads(sys.argv[1]), json.loads(sys.argv[2]); "
        "values = {k: (Decimal(v) if isinstance(v, str) else v) for k, v in values.items()}; "
        "sys.stdout.write(Scorecard(table).assess(values).to_json())"
    )
    encoded = json.dumps({k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()})
    there = subprocess.run([sys.executable, "-c", program, json.dumps(TABLE), encoded], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout
    assert there == here
    assert json.loads(here)["score"] == 480 + 15 + 12 + 35 + 20 + 0


def test_serving_and_the_request_path_never_import_optbinning():
    program = (
        "import sys; import gateway.domain.credit.scorecard, gateway.services.credit, gateway.entrypoints.api.credit, gateway.app; "
        "print(sorted(m for m in ('optbinning', 'sklearn', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("breakage", [
    lambda t: t.update(format="pickle"),
    lambda t: t["features"][0].update(splits=["365", "90"]),
    lambda t: t["features"][0]["bins"].pop(),
    lambda t: t["features"][0].update(name="age"),
    lambda t: t.pop("base_points"),
])
def test_a_malformed_table_is_refused(breakage):
    table = copy.deepcopy(TABLE)
    breakage(table)
    with pytest.raises(ScorecardError):
        Scorecard(table)


def test_monotonicity_violations_are_named():
    table = copy.deepcopy(TABLE)
    table["features"][2]["bins"][2]["points"] = 1  # on-time share: a better value worth less
    assert Scorecard(table).monotonicity_violations() == ["on_time_share"]
    assert Scorecard(TABLE).monotonicity_violations() == []


# ---- features ---------------------------------------------------------------------------------

def test_no_protected_attribute_or_location_is_a_feature():
    forbidden = ("age", "sex", "gender", "region", "location", "province", "city", "app", "contact", "birth")
    for spec in F.FEATURES:
        assert not any(word in spec.name.split("_") for word in forbidden), spec.name
    usage = {"screen_seconds": 100, "data_bytes": 5, "battery_pct_min": 40, "regions": ["CN-BJ"], "app_sessions": 3}
    day = F.UsageDay.from_aggregate(date(2026, 1, 1), "phone", usage)
    assert "region" not in repr(day) and "CN-BJ" not in repr(day)


def test_device_features_from_daily_aggregates():
    as_of = date(2026, 6, 1)
    days = [F.UsageDay(as_of - timedelta(days=400), "phone", 100, 1000, 50)]
    days += [F.UsageDay(as_of - timedelta(days=back), "phone", 600 if back % 2 else 0, 2000 if back <= 15 else 1000, 5 if back <= 3 else 60)
             for back in range(1, 31)]
    days += [F.UsageDay(as_of - timedelta(days=back), "iot", 3600) for back in range(1, 11)]
    values = F.device_features(days, as_of)
    # active: the 15 odd days by phone, and days 2, 4 .. 10 by the IoT device
    assert values == {"device_tenure_days": 400, "active_day_share_30d": Decimal("0.67"), "low_battery_day_share_30d": Decimal("0.10"),
                      "data_use_trend": Decimal("1.00"), "iot_usage_steadiness": Decimal("1.00")}
    assert F.device_features([], as_of) == dict.fromkeys(F.DEVICE_FEATURES)


def test_repayment_features_count_only_what_was_due():
    as_of = date(2026, 6, 1)
    history = [F.InstallmentRecord(date(2025, 10, 1), date(2025, 10, 1), 0),  # on time, older than 6 months
               F.InstallmentRecord(date(2026, 4, 1), date(2026, 4, 9), 0),  # 8 days late
               F.InstallmentRecord(date(2026, 5, 1), date(2026, 4, 30), 0),  # early
               F.InstallmentRecord(date(2026, 7, 1), None, 120_000)]  # not due yet
    assert F.repayment_features(history, as_of) == {"on_time_share": Decimal("0.67"), "worst_delinquency_days_6m": 8, "outstanding_fen": 120_000}
    assert F.repayment_features([], as_of) == {"on_time_share": None, "worst_delinquency_days_6m": None, "outstanding_fen": 0}


# ---- limits and metrics -----------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "A:600", "A:600:100,B:650:50,C:0:10", "A:600:100,B:500:200,C:0:10", "A:600:100,B:500:50"])
def test_a_bad_limit_policy_is_refused(text):
    with pytest.raises(PolicyError):
        LimitPolicy.parse(text)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(min_value=300, max_value=850), st.integers(min_value=0, max_value=1)), min_size=2, max_size=40))
def test_auc_is_the_share_of_good_bad_pairs_ordered_right(pairs):
    scores, bad = [s for s, _ in pairs], [b for _, b in pairs]
    if len(set(bad)) < 2:
        return
    goods = [s for s, b in pairs if not b]
    bads = [s for s, b in pairs if b]
    expected = sum(1 if g > b else 0.5 if g == b else 0 for g, b in itertools.product(goods, bads)) / (len(goods) * len(bads))
    assert auc(scores, bad) == pytest.approx(expected)
    assert 0 <= ks(scores, bad) <= 1


@pytest.mark.parametrize("module", [F, limits, scorecard, simulation, validation, credit_cli], ids=lambda m: m.__name__)
def test_the_examples_in_the_docs_hold(module):
    assert doctest.testmod(module).failed == 0


usage_days = st.lists(st.builds(
    F.UsageDay,
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 6, 30)),
    kind=st.sampled_from(["phone", "iot"]),
    active_seconds=st.integers(min_value=0, max_value=86_400),
    data_bytes=st.one_of(st.none(), st.integers(min_value=0, max_value=10**10)),
    battery_min_pct=st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
), max_size=60)
installments = st.lists(st.builds(
    F.InstallmentRecord,
    due_date=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)),
    paid_on=st.one_of(st.none(), st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31))),
    outstanding_fen=st.integers(min_value=0, max_value=10**9),
), max_size=30)


@given(usage_days, installments, st.dates(min_value=date(2025, 6, 1), max_value=date(2026, 12, 31)))
def test_features_stay_in_their_ranges_and_ignore_the_future(days, history, as_of):
    device = F.device_features(days, as_of)
    repayment = F.repayment_features(history, as_of)
    for name in ("active_day_share_30d", "low_battery_day_share_30d", "iot_usage_steadiness", "on_time_share"):
        value = {**device, **repayment}[name]
        assert value is None or (isinstance(value, Decimal) and 0 <= value <= 1)
    assert device["data_use_trend"] is None or -1 <= device["data_use_trend"] <= 1
    assert device["device_tenure_days"] is None or device["device_tenure_days"] >= 1
    assert repayment["worst_delinquency_days_6m"] is None or repayment["worst_delinquency_days_6m"] >= 0
    later_days = [d for d in days if d.day >= as_of]
    assert F.device_features([d for d in days if d not in later_days], as_of) == device  # only days before as_of count
