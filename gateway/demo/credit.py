"""The credit part of the demo: a risk analyst simulates a population, trains and promotes the two
models with the `paygate credit` commands; then two customers' credit profiles side by side
through the API: one with an installment history (a late installment, a balance outstanding),
one new. Only the HTTP API and the CLI: nothing of gateway.services or gateway.adapters."""
from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import click

from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_ids import sandbox_id_number

if TYPE_CHECKING:
    from gateway.demo import Client

DEMO_CUSTOMERS = 6_000  # a smaller population than the 20,000 of the docs, to keep the demo short
WIDTH = 56


def paygate(*args: str) -> None:
    """Run a `paygate` command in this process, echoing it as a shell line."""
    from gateway.entrypoints.cli import main

    print(f"\n  $ paygate {' '.join(args)}")
    try:
        main.main(list(args), prog_name="paygate", standalone_mode=False)
    except click.ClickException as refused:  # e.g. promote: not better than the live version
        print(f"  refused: {refused.message}")


def show_credit(shop: Client, gw, customer_with_history: str, days_later: int = 75) -> None:
    """`customer_with_history` bought on installments today; the profiles are compared
    `days_later` days on (the demo's clock travels, as in the installments part)."""
    from gateway.demo import TravelClock, secrets_order

    print("\ncredit score: simulate, train, promote; two profiles side by side")
    paygate("credit", "simulate", "--customers", str(DEMO_CUSTOMERS))
    paygate("credit", "train", "--label-window", "6m")
    for model in shop.get("/v1/credit_models")["data"]:
        if model["state"] == "candidate":
            paygate("credit", "promote", model["version"])
    newcomer = shop.post("/v1/customers", {"name": "Li Lei", "mobile": "13700137000", "id_number": sandbox_id_number(date(1995, 3, 14), order=secrets_order()),
                                           "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}})
    shop.post(f"/v1/customers/{newcomer['id']}/consents", {"kind": "device_usage", "version": "2026-01", "purpose": "credit scoring"})
    clock = TravelClock(gw)
    later = clock.today() + timedelta(days=days_later)
    clock.go(later)
    try:
        profiles = [shop.post(f"/v1/customers/{customer}/credit_profile/refresh", {}) for customer in (customer_with_history, newcomer["id"])]
    finally:
        clock.back()
    print(f"\n  {later}: POST /v1/customers/{{id}}/credit_profile/refresh")
    _side_by_side(["with an installment history", "new, device data consented (none sent yet)"], profiles)


def _side_by_side(titles: list[str], profiles: list[dict]) -> None:
    def row(label: str, values: list[str]) -> None:
        print(f"  {label:<28}" + "".join(f"{value:<{WIDTH}}" for value in values))

    row("", titles)
    row("score / band", [f"{p['score']} / {p['band']}" for p in profiles])
    row("installment limit", [yuan(p["installment_limit"]) for p in profiles])
    row("model", [f"{p['model']} ({p['model_version']})" for p in profiles])
    names = [f["name"] for f in profiles[0]["features"]]
    for name in names:
        row(f"  {name}", [_feature(p, name) for p in profiles])
    for index in range(4):
        reasons = [p["reasons"][index]["text"] if index < len(p["reasons"]) else "" for p in profiles]
        if any(reasons):
            row("reason" if index == 0 else "", [text[:WIDTH - 2] for text in reasons])


def _feature(profile: dict, name: str) -> str:
    found = next((f for f in profile["features"] if f["name"] == name), None)
    return "-" if found is None else f"{found['value'] if found['value'] is not None else 'no data'} ({found['points']} pts)"
