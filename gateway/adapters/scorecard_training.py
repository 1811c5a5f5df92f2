"""Training a scorecard with optbinning, written out as a plain JSON points table.

Offline only (`paygate credit train`): optbinning, pandas and scikit-learn come with the `credit`
extra and are imported here and nowhere on the request path, which serves the table with
gateway.domain.credit.scorecard.

Each feature is binned by `BinningProcess` with the monotonic trend its direction declares (the
event rate falls as a higher-is-better value rises), features with an information value under
`MIN_IV` are left out (they get one bin worth 0 points), and `Scorecard` fits a logistic
regression on the bins' WoE and scales it with points-to-double-the-odds. A feature whose fitted
points still run against its direction (a collinear feature can get the opposite sign) is dropped
and the model refitted, so the served table is monotonic by construction.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from gateway.domain.credit.features import BY_NAME, Direction, Value
from gateway.domain.credit.scorecard import FORMAT, Scale, Scorecard, bin_texts

MIN_IV = 0.02  # "not useful" below this, by the usual rule of thumb
MAX_PVALUE = 0.05
SPLIT_DIGITS = 6


class TrainingError(RuntimeError):
    pass


def train(rows: Sequence[Mapping[str, Value]], bad: Sequence[int], feature_names: Sequence[str], *,
          version: str, model: str, scale: Scale, seed: int = 0) -> dict:
    """The JSON points table (a dict) of a scorecard fitted on `rows` (features) and `bad`."""
    import pandas as pd

    if len(set(bad)) < 2:
        raise TrainingError("training needs both good and bad outcomes")
    frame = pd.DataFrame([[_number(row.get(name)) for name in feature_names] for row in rows], columns=list(feature_names), dtype="float64")
    target = pd.Series(list(bad), dtype="int64")
    usable = list(feature_names)
    while True:
        fitted = _fit(frame, target, usable, scale, seed)
        table = _points_table(fitted, feature_names, version=version, model=model, scale=scale)
        wrong = Scorecard(table).monotonicity_violations()
        if not wrong:
            return table
        usable = [name for name in usable if name not in wrong]


def _fit(frame, target, names: list[str], scale: Scale, seed: int):
    from optbinning import BinningProcess, Scorecard as OptScorecard
    from sklearn.linear_model import LogisticRegression

    trends = {name: {"monotonic_trend": "descending" if BY_NAME[name].direction is Direction.HIGHER_IS_BETTER else "ascending"}
              for name in names}
    # Adjacent bins must differ significantly (p < MAX_PVALUE), so noise does not get split into bins.
    binning = BinningProcess(variable_names=names, binning_fit_params=trends, max_pvalue=MAX_PVALUE,
                             selection_criteria={"iv": {"min": MIN_IV}})
    scorecard = OptScorecard(
        binning_process=binning, estimator=LogisticRegression(random_state=seed),
        scaling_method="pdo_odds", scaling_method_params={"pdo": scale.pdo, "odds": scale.odds, "scorecard_points": scale.points},
        intercept_based=True, rounding=True,
    )
    try:
        scorecard.fit(frame[names], target)
    except ValueError as exc:  # e.g. no feature passed the selection
        raise TrainingError(f"optbinning could not fit a scorecard: {exc}") from exc
    return scorecard


def _points_table(fitted, feature_names: Sequence[str], *, version: str, model: str, scale: Scale) -> dict:
    detailed = fitted.table(style="detailed")
    selected = set(fitted.binning_process_.get_support(names=True))
    features = []
    for name in feature_names:
        spec = BY_NAME[name]
        if name in selected:
            splits = [_split(value) for value in fitted.binning_process_.get_binned_variable(name).splits]
            # Rows per variable: one per bin in value order, then "Special", then "Missing".
            points = [int(p) for p in detailed[detailed["Variable"] == name]["Points"].tolist()]
            bin_points, missing_points = points[:len(splits) + 1], points[-1]
        else:
            splits, bin_points, missing_points = [], [0], 0
        texts = bin_texts(name, splits)
        features.append({
            "name": name, "direction": spec.direction.value, "unit": spec.unit.value,
            "splits": [str(split) for split in splits],
            "bins": [{"points": p, "text": text} for p, text in zip(bin_points, texts)],
            "missing": {"points": missing_points, "text": spec.missing},
        })
    return {
        "format": FORMAT, "version": version, "model": model,
        "scale": {"min": scale.min, "max": scale.max, "points": scale.points, "odds": scale.odds, "pdo": scale.pdo},
        "base_points": int(fitted.intercept_),
        "features": features,
    }


def _number(value: Value) -> float | None:
    return None if value is None else float(value)


def _split(value: float) -> Decimal:
    """A bin edge as a plain decimal ("470000", "0.585"), never in exponent form."""
    split = Decimal(repr(round(float(value), SPLIT_DIGITS)))
    return split.quantize(Decimal(1)) if split == split.to_integral_value() else split.normalize()
