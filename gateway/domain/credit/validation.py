"""How well a scorecard separates good from bad outcomes, and how stable its inputs are.

Figures, not money: floats, rounded to 4 places when reported. `bad` is 1 for an outcome the
model should have scored low (30+ days past due within the label window).

>>> auc([700, 650, 600, 550], [0, 0, 1, 1]), ks([700, 650, 600, 550], [0, 0, 1, 1])
(1.0, 1.0)
>>> round(psi([10, 10], [10, 10]), 4), psi([10, 0], [0, 10]) > 1
(0.0, True)
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PSI_FLOOR = 1e-4  # an empty bin counts as this share, so PSI stays finite


def auc(scores: Sequence[float], bad: Sequence[int]) -> float:
    """The chance that a random good outcome scored above a random bad one (ties count half):
    the Mann-Whitney statistic over ranks."""
    pairs = sorted(zip(scores, bad))
    goods = sum(1 for _, b in pairs if not b)
    bads = len(pairs) - goods
    if not goods or not bads:
        raise ValueError("AUC needs both good and bad outcomes")
    rank_sum, index = 0.0, 0
    while index < len(pairs):  # average ranks over ties
        end = index
        while end < len(pairs) and pairs[end][0] == pairs[index][0]:
            end += 1
        average_rank = (index + 1 + end) / 2
        rank_sum += average_rank * sum(1 for _, b in pairs[index:end] if not b)
        index = end
    return (rank_sum - goods * (goods + 1) / 2) / (goods * bads)


def gini(area: float) -> float:
    return 2 * area - 1


def ks(scores: Sequence[float], bad: Sequence[int]) -> float:
    """The largest gap between the cumulative score distributions of bad and good outcomes."""
    pairs = sorted(zip(scores, bad))
    bads = sum(b for _, b in pairs)
    goods = len(pairs) - bads
    if not goods or not bads:
        raise ValueError("KS needs both good and bad outcomes")
    seen_bad = seen_good = 0
    best = 0.0
    for index, (score, is_bad) in enumerate(pairs):
        seen_bad += is_bad
        seen_good += not is_bad
        if index + 1 == len(pairs) or pairs[index + 1][0] != score:  # only between distinct scores
            best = max(best, abs(seen_bad / bads - seen_good / goods))
    return best


def psi(expected: Sequence[int], actual: Sequence[int]) -> float:
    """Population stability index of two histograms over the same bins."""
    total_expected, total_actual = sum(expected), sum(actual)
    if not total_expected or not total_actual:
        return 0.0
    value = 0.0
    for e, a in zip(expected, actual):
        e_share = max(e / total_expected, PSI_FLOOR)
        a_share = max(a / total_actual, PSI_FLOOR)
        value += (a_share - e_share) * math.log(a_share / e_share)
    return value


@dataclass(frozen=True)
class BandCalibration:
    band: str
    count: int
    observed_bad_rate: float
    expected_bad_rate: float  # the mean of what the scale says for these scores


def calibration(bands: Sequence[str], observed_bad: Sequence[int], expected_bad: Sequence[float]) -> list[BandCalibration]:
    """Observed against expected bad rate per band, in the order bands first appear sorted."""
    grouped: dict[str, list[tuple[int, float]]] = {}
    for band, is_bad, expected in zip(bands, observed_bad, expected_bad):
        grouped.setdefault(band, []).append((is_bad, expected))
    return [
        BandCalibration(band, len(rows), sum(b for b, _ in rows) / len(rows), sum(e for _, e in rows) / len(rows))
        for band, rows in sorted(grouped.items())
    ]


def rounded(value: float) -> str:
    """A figure as stored and shown: 4 decimal places, as text (the same bytes everywhere)."""
    return f"{value:.4f}"
