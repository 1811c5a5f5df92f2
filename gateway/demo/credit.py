"""The credit part of the demo: a risk analyst simulates a population, trains and promotes the two
models with the `paygate credit` commands; then two customers' credit profiles side by side
through the API: one who was late once and shares no device data (repayment_only), one who pays
on time and consented to device data (device+repayment). Only the HTTP API, the CLI and the
demo's own helpers: nothing of gateway.services or gateway.adapters."""
from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import click

from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number

if TYPE_CHECKING:
    from gateway.demo import Client

DEMO_CUSTOMERS = 6_000  # a smaller population than the 20,000 of the docs, to keep the demo short
WIDTH = 72


def paygate(*args: str) -> None:
    """Run a `paygate` command in this process, echoing it as a shell line."""
    from gateway.entrypoints.cli import main

    print(f"\n  $ paygate {' '.join(args)}")
    try:
        main.main(list(args), prog_name="paygate", standalone_mode=False)
    except click.ClickException as refused:  # e.g. promote: not better than the live version
        print(f"  refused: {refused.message}")


def show_credit(shop: Client, gw, base_url: str, secret_key: str, customer_with_history: str, days_later: int = 75) -> None:
    """`customer_with_history` bought on installments today (and was late once); a second
    customer, a steady phone user who consents to device data, buys a phone on installments and
    pays on time. Both profiles are compared `days_later` days on (the demo's clock travels, as in
    the installments part)."""
    from gateway.demo import TravelClock, demo_phone, secrets_order
    from gateway.entrypoints.workers.runner import run

    print("\ncredit score: simulate, train, promote; two profiles side by side")
    paygate("credit", "simulate", "--customers", str(DEMO_CUSTOMERS))
    paygate("credit", "train", "--label-window", "6m")
    for model in shop.get("/v1/credit_models")["data"]:
        if model["state"] == "candidate":
            paygate("credit", "promote", model["version"])
    print()
    steady = shop.post("/v1/customers", {"name": "Li Lei", "mobile": "13700137000", "id_number": sandbox_id_number(date(1995, 3, 14), order=secrets_order()),
                                         "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}})
    for kind, purpose in (("bank_card", "bind and charge debit cards"), ("device_usage", "credit scoring from device usage")):
        shop.post(f"/v1/customers/{steady['id']}/consents", {"kind": kind, "version": "2026-01", "purpose": purpose})
    started = shop.post(f"/v1/customers/{steady['id']}/cards", {"card_number": sandbox_card_number("CCB", "6666"), "exp_month": 12, "exp_year": 2030, "cvv": "123"})
    card = shop.post(f"/v1/customers/{steady['id']}/cards/{started['id']}/verify", {"code": shop.get(f"/v1/sandbox/card_bindings/{started['id']}/sms_code")["code"]})
    phone_id, _lock = demo_phone(base_url, secret_key, gw.settings.var_dir, gw.clock)
    product = shop.post("/v1/installment_products", {"name": "Phone 6 months", "terms": [6], "method": "equal_installment", "apr": "12", "down_payment_share": "0.1"})
    plan = shop.post("/v1/installment_plans", {"customer": steady["id"], "card": card["id"], "product": product["id"], "term_months": 6, "amount": 259900, "device": phone_id})
    print(f"  {steady['id']} (Li Lei) consents to device_usage and buys phone {phone_id} on 6 months: plan {plan['state']}")
    clock = TravelClock(gw)
    later = clock.today() + timedelta(days=days_later)
    try:
        for installment in plan["schedule"][:2]:
            clock.go(date.fromisoformat(installment["due_date"]))
            run(gw, ["installments"], once=True)
        clock.go(later)
        loaded = shop.post(f"/v1/sandbox/devices/{phone_id}/usage_history", {"days": 120, "profile": "steady"})
        print(f"  {later}: two installments paid on time; the sandbox loads {loaded['days']} days of the phone's daily usage")
        profiles = [shop.post(f"/v1/customers/{customer}/credit_profile/refresh", {}) for customer in (customer_with_history, steady["id"])]
    finally:
        clock.back()
    print(f"  {later}: POST /v1/customers/{{id}}/credit_profile/refresh\n")
    _side_by_side(["Wang Fang: late once, no device data", "Li Lei: on time, steady phone use"], profiles)


def _side_by_side(titles: list[str], profiles: list[dict]) -> None:
    def row(label: str, values: list[str]) -> None:
        print(f"  {label:<28}" + "".join(f"{value:<{WIDTH}}" for value in values))

    row("", titles)
    row("score / band", [f"{p['score']} / {p['band']}" for p in profiles])
    row("installment limit", [yuan(p["installment_limit"]) for p in profiles])
    row("model", [f"{p['model']} ({p['model_version']})" for p in profiles])
    names = list(dict.fromkeys(f["name"] for p in sorted(profiles, key=lambda p: -len(p["features"])) for f in p["features"]))
    for name in names:
        row(f"  {name}", [_feature(p, name) for p in profiles])
    for index in range(4):
        reasons = [p["reasons"][index]["text"] if index < len(p["reasons"]) else "" for p in profiles]
        if any(reasons):
            row("reason" if index == 0 else "", [text[:WIDTH - 2] for text in reasons])


def _feature(profile: dict, name: str) -> str:
    found = next((f for f in profile["features"] if f["name"] == name), None)
    return "-" if found is None else f"{found['value'] if found['value'] is not None else 'no data'} ({found['points']} pts)"
