"""Credit scores per second from the JSON points table, beside a bare dict-lookup floor; and the
training time on a simulated population.

    PYTHONPATH=. python bench/credit.py [--customers 20000] [--seconds 3]

1. Training: simulate --customers applicants (gateway.domain.credit.simulation), then fit both
   models with optbinning (gateway.adapters.scorecard_training, what `paygate credit train`
   runs) on the matured ones; prints the simulation and fit times and the holdout AUC.
2. Scoring, in one process for --seconds each, over the consenting applicants' feature dicts:
   `Scorecard.score` (the score alone: what a limit needs), `Scorecard.assess` (score, per-feature
   points and reasons) and `assess(...).to_json()` (the canonical bytes stored with a score).
   Beside them, in the same run, the floor: a bare loop doing one dict lookup per feature (the
   same 8 features, points looked up by the value itself: no binning, no clamping). Goals:
   >= 20,000 scores/s and a ratio to the floor >= 0.3.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.adapters.scorecard_training import train  # noqa: E402
from gateway.domain.credit.features import DEVICE_FEATURES, REPAYMENT_FEATURES  # noqa: E402
from gateway.domain.credit.scorecard import Scale, Scorecard  # noqa: E402
from gateway.domain.credit.simulation import simulate  # noqa: E402
from gateway.domain.credit.validation import auc  # noqa: E402

TODAY = date(2026, 11, 30)
WINDOW = timedelta(days=183)
SCALE = Scale(300, 850, 600, 50, 20)
SCORE_GOAL, RATIO_GOAL = 20_000, 0.3


def fit(applicants, names, model):
    matured = sorted((a for a in applicants if a.observed_on + WINDOW <= TODAY), key=lambda a: (a.observed_on, a.key))
    labelled = [(a.features, int(a.defaulted_on is not None and a.defaulted_on <= a.observed_on + WINDOW)) for a in matured]
    cut = int(len(labelled) * 0.8)
    began = time.perf_counter()
    table = train([f for f, _ in labelled[:cut]], [b for _, b in labelled[:cut]], names, version=f"bench-{model}", model=model, scale=SCALE)
    seconds = time.perf_counter() - began
    card = Scorecard(table)
    area = auc([card.score(f) for f, _ in labelled[cut:]], [b for _, b in labelled[cut:]])
    return card, seconds, cut, area


def rate(seconds: float, features: list[dict], one) -> float:
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for values in features:
            one(values)
        done += len(features)
    return done / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # optbinning's pandas deprecation notices

    began = time.perf_counter()
    applicants = simulate(args.customers, TODAY)
    simulated = time.perf_counter() - began
    consenting = [a for a in applicants if a.device_consent]
    device_card, device_fit, device_rows, device_auc = fit(consenting, DEVICE_FEATURES + REPAYMENT_FEATURES, "device+repayment")
    _, repayment_fit, repayment_rows, repayment_auc = fit(applicants, REPAYMENT_FEATURES, "repayment_only")
    print(f"training on {args.customers} simulated customers: simulation {simulated:.1f} s; "
          f"device+repayment fit {device_fit:.1f} s on {device_rows} examples (holdout AUC {device_auc:.3f}); "
          f"repayment_only fit {repayment_fit:.1f} s on {repayment_rows} examples (holdout AUC {repayment_auc:.3f}); "
          f"total {simulated + device_fit + repayment_fit:.1f} s")

    features = [dict(a.features) for a in consenting[:5_000]]
    names = [f.name for f in device_card.features]
    # The floor: the points of every value that occurs, looked up directly (one dict hit per feature).
    lookup = {f.name: {values.get(f.name): f.bin_for(values.get(f.name)).points for values in features} for f in device_card.features}
    base = device_card.base_points

    def floor(values: dict) -> int:
        total = base
        for name in names:
            total += lookup[name][values.get(name)]
        return total

    floor_rate = rate(args.seconds, features, floor)
    score_rate = rate(args.seconds, features, device_card.score)
    assess_rate = rate(args.seconds, features, device_card.assess)
    json_rate = rate(args.seconds, features, lambda values: device_card.assess(values).to_json())
    print(f"floor (bare dict lookup, {len(names)} features): {floor_rate:,.0f} /s")
    print(f"score from the JSON points table: {score_rate:,.0f} scores/s, ratio to the floor {score_rate / floor_rate:.2f} "
          f"(goals {SCORE_GOAL:,}/s, {RATIO_GOAL})")
    print(f"assess (score, points and reasons): {assess_rate:,.0f} /s, ratio {assess_rate / floor_rate:.2f}; "
          f"with canonical JSON: {json_rate:,.0f} /s, ratio {json_rate / floor_rate:.2f}")


if __name__ == "__main__":
    main()
