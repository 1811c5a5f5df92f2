"""Serving a scorecard: pure Python over a plain JSON points table (no pickle, no optbinning).

A model version is one JSON document:

    {"format": "paygate-scorecard/1", "version": "dr-20261130-01", "model": "device+repayment",
     "scale": {"min": 300, "max": 850, "points": 600, "odds": 50, "pdo": 20},
     "base_points": 412,
     "features": [{"name": "device_tenure_days", "direction": "higher_is_better", "unit": "days",
                   "splits": ["45", "200"],          # bins: (-inf, 45) [45, 200) [200, inf)
                   "bins": [{"points": 0, "text": "..."}, {"points": 21, ...}, {"points": 38, ...}],
                   "missing": {"points": 9, "text": "No device history"}}, ...]}

The score is base_points plus one bin's points per feature, clamped to the scale's range; at
`points` the odds of repaying are `odds`:1 and every `pdo` points double them. Points are
integers and values are Decimals or integers, so the same inputs and version always give the
same bytes (`Assessment.to_json`).

>>> card = Scorecard(EXAMPLE)
>>> card.score({"on_time_share": Decimal("0.95")}), card.score({"on_time_share": Decimal("0.5")}), card.score({})
(650, 600, 610)
>>> [reason.code for reason in card.assess({"on_time_share": Decimal("0.5")}).reasons]
['on_time_share']
"""
from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from gateway.domain.credit.features import BY_NAME, Direction, Features, Unit, Value

FORMAT = "paygate-scorecard/1"
MODELS = ("device+repayment", "repayment_only")
MAX_REASONS = 4


class ScorecardError(ValueError):
    """A points table that cannot be served."""


@dataclass(frozen=True)
class Scale:
    min: int
    max: int
    points: int  # the score at which the odds of repaying are `odds`:1
    odds: int
    pdo: int  # points to double the odds

    def bad_rate(self, score: int) -> float:
        """The expected share of bad outcomes at `score` (for calibration reports only)."""
        odds = self.odds * 2 ** ((score - self.points) / self.pdo)
        return 1 / (1 + odds)


@dataclass(frozen=True)
class Bin:
    points: int
    text: str


@dataclass(frozen=True)
class FeatureTable:
    name: str
    direction: Direction
    unit: Unit
    splits: tuple[Decimal, ...]  # bin i holds splits[i-1] <= value < splits[i]
    bins: tuple[Bin, ...]
    missing: Bin

    def bin_for(self, value: Value) -> Bin:
        return self.missing if value is None else self.bins[bisect_right(self.splits, value)]

    @property
    def best_points(self) -> int:
        return max(b.points for b in (*self.bins, self.missing))


class FeatureScore(NamedTuple):  # named tuples: an assessment makes a dozen of these
    name: str
    value: Value
    points: int
    text: str  # what the value's bin means


class Reason(NamedTuple):
    code: str  # the feature's name
    text: str
    value: Value


@dataclass(frozen=True)
class Assessment:
    model_version: str
    model: str
    score: int
    features: tuple[FeatureScore, ...]
    reasons: tuple[Reason, ...]

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, values as text, so equal assessments are equal bytes."""
        return json.dumps({
            "model_version": self.model_version, "model": self.model, "score": self.score,
            "features": [{"name": f.name, "value": _text(f.value), "points": f.points, "text": f.text} for f in self.features],
            "reasons": [{"code": r.code, "text": r.text, "value": _text(r.value)} for r in self.reasons],
        }, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: Value) -> str | None:
    return None if value is None else str(value)


class Scorecard:
    """A loaded model version. Build it once per version; scoring only reads it."""

    def __init__(self, table: Mapping) -> None:
        try:
            if table["format"] != FORMAT:
                raise ScorecardError(f"unknown scorecard format {table['format']!r}")
            if table["model"] not in MODELS:
                raise ScorecardError(f"unknown model {table['model']!r}")
            self.version: str = table["version"]
            self.model: str = table["model"]
            self.scale = Scale(**{key: int(table["scale"][key]) for key in ("min", "max", "points", "odds", "pdo")})
            self.base_points = int(table["base_points"])
            self.features = tuple(_feature(entry) for entry in table["features"])
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ScorecardError(f"malformed scorecard: {exc!r}") from exc
        self.table = table
        # The hot path's shape: one tuple per feature, nothing looked up twice.
        self._compiled = tuple((f.name, f.splits, tuple(b.points for b in f.bins), f.missing.points) for f in self.features)
        self._explained = tuple((f, f.best_points) for f in self.features)

    @classmethod
    def from_json(cls, text: str) -> Scorecard:
        try:
            return cls(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ScorecardError(f"not JSON: {exc}") from exc

    def score(self, features: Features) -> int:
        total = self.base_points
        for name, splits, points, missing in self._compiled:
            value = features.get(name)
            total += missing if value is None else points[bisect_right(splits, value)]
        return min(self.scale.max, max(self.scale.min, total))

    def assess(self, features: Features) -> Assessment:
        """The score, each feature's value and points, and the reasons: the features whose
        points fall furthest below their best bin (at most four, none that cost nothing; ties
        in table order)."""
        total = self.base_points
        scored = []
        shortfalls = []
        for index, (table, best) in enumerate(self._explained):
            value = features.get(table.name)
            chosen = table.missing if value is None else table.bins[bisect_right(table.splits, value)]
            total += chosen.points
            scored.append(FeatureScore(table.name, value, chosen.points, chosen.text))
            if chosen.points < best:
                shortfalls.append((chosen.points - best, index))
        shortfalls.sort()
        reasons = tuple(Reason(scored[index].name, scored[index].text, scored[index].value) for _, index in shortfalls[:MAX_REASONS])
        return Assessment(self.version, self.model, min(self.scale.max, max(self.scale.min, total)), tuple(scored), reasons)

    def monotonicity_violations(self) -> list[str]:
        """Features whose points do not follow their declared direction (bins in value order)."""
        wrong = []
        for feature in self.features:
            points = [b.points for b in feature.bins]
            ordered = points if feature.direction is Direction.HIGHER_IS_BETTER else points[::-1]
            if any(later < earlier for earlier, later in zip(ordered, ordered[1:])):
                wrong.append(feature.name)
        return wrong


def _feature(entry: Mapping) -> FeatureTable:
    name = entry["name"]
    if name not in BY_NAME:
        raise ScorecardError(f"unknown feature {name!r}")
    splits = tuple(Decimal(split) for split in entry["splits"])
    bins = tuple(Bin(int(b["points"]), str(b["text"])) for b in entry["bins"])
    if len(bins) != len(splits) + 1:
        raise ScorecardError(f"{name}: {len(splits)} splits need {len(splits) + 1} bins, not {len(bins)}")
    if any(b <= a for a, b in zip(splits, splits[1:])):
        raise ScorecardError(f"{name}: splits must increase")
    missing = Bin(int(entry["missing"]["points"]), str(entry["missing"]["text"]))
    return FeatureTable(name, Direction(entry["direction"]), Unit(entry["unit"]), splits, bins, missing)


# ---- describing bins (used when a model is written) --------------------------------------------

def format_value(unit: Unit, value: Decimal) -> str:
    """A value as a customer reads it.

    >>> format_value(Unit.SHARE, Decimal("0.415")), format_value(Unit.FEN, Decimal("150000")), format_value(Unit.DAYS, Decimal("30.5"))
    ('42%', 'CNY 1,500', '31 days')
    """
    if unit is Unit.SHARE:
        return f"{(value * 100).quantize(Decimal(1), 'ROUND_HALF_UP')}%"
    if unit is Unit.RATIO:
        return f"{(value * 100).quantize(Decimal(1), 'ROUND_HALF_UP'):+}%"
    if unit is Unit.FEN:
        return f"CNY {int((value / 100).quantize(Decimal(1), 'ROUND_HALF_UP')):,}"
    days = value.quantize(Decimal(1), "ROUND_HALF_UP")
    return f"{days} day" if days == 1 else f"{days} days"


def range_text(unit: Unit, lower: Decimal | None, upper: Decimal | None) -> str:
    """A bin's range as a customer reads it.

    >>> range_text(Unit.DAYS, None, Decimal(90)), range_text(Unit.SHARE, Decimal("0.5"), Decimal("0.8")), range_text(Unit.DAYS, Decimal(90), None)
    ('under 90 days', '50% to under 80%', '90 days or more')
    """
    if lower is None and upper is None:
        return "any value"
    if lower is None:
        return f"under {format_value(unit, upper)}"
    if upper is None:
        return f"{format_value(unit, lower)} or more"
    return f"{format_value(unit, lower)} to under {format_value(unit, upper)}"


def bin_texts(name: str, splits: list[Decimal]) -> list[str]:
    """The reason text of each bin of feature `name`, in value order."""
    spec = BY_NAME[name]
    edges = [None, *splits, None]
    return [spec.reason.format(range=range_text(spec.unit, lower, upper)) for lower, upper in zip(edges, edges[1:])]


EXAMPLE = {
    "format": FORMAT, "version": "example-1", "model": "repayment_only",
    "scale": {"min": 300, "max": 850, "points": 600, "odds": 50, "pdo": 20},
    "base_points": 580,
    "features": [{
        "name": "on_time_share", "direction": "higher_is_better", "unit": "share", "splits": ["0.9"],
        "bins": [{"points": 20, "text": "Installments paid late (under 90% on time)"},
                 {"points": 70, "text": "Installments paid late (90% or more on time)"}],
        "missing": {"points": 30, "text": "No installment history yet"},
    }],
}
