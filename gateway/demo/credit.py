"""The credit part of the demo: a risk analyst simulates a population, trains and promotes the two
models with the `paygate credit` commands; then two customers' credit profiles side by side
through the SDK: one who was late once and shares no device data (repayment_only), one who pays
on time and consented to device data (device+repayment), both lived through their due dates on
the sandbox clock. Only the SDK, the CLI and the demo's own helpers: nothing of gateway.services
or gateway.adapters."""
from __future__ import annotations

import secrets
from datetime import date, timedelta
from pathlib import Path

import click

from gateway.bootstrap import Gateway
from gateway.demo.installments import demo_phone, live_through
from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.sdk.client import Paygate

DEMO_CUSTOMERS = 6_000  # a smaller population than the 20,000 of the docs, to keep the demo short
USAGE_DAYS = 120
WIDTH = 72
IDENTITY_CONSENT = {"version": "2026-01", "purpose": "real-name verification"}
CONSENTS = (("bank_card", "2026-01", "bind and charge debit cards"), ("device_usage", "2026-01", "credit scoring from device usage"))


def paygate(*args: str) -> None:
    """Run a `paygate` command in this process, echoing it as a shell line."""
    from gateway.entrypoints.cli import main

    print(f"\n  $ paygate {' '.join(args)}")
    try:
        main.main(list(args), prog_name="paygate", standalone_mode=False)
    except click.ClickException as refused:  # e.g. promote: not better than the live version
        print(f"  refused: {refused.message}")


def show_credit(shop: Paygate, gw: Gateway, base_url: str, secret_key: str, late_customer: dict, late_plan: dict) -> None:
    """`late_customer` paid one installment of `late_plan` late and shares no device data; a
    second customer, a steady phone user who consents to device data, buys a phone on 6 months.
    The sandbox clock lives through the first two due dates of the new plan (and the first
    customer's due dates meanwhile, each collected on its day); then both are scored."""
    print("\ncredit score: simulate, train, promote; two profiles side by side")
    paygate("credit", "simulate", "--customers", str(DEMO_CUSTOMERS))
    paygate("credit", "train", "--label-window", "6m")
    for model in shop.list_credit_models()["data"]:
        if model["state"] == "candidate":
            paygate("credit", "promote", model["version"])
    print()
    steady, card = _steady_customer(shop)
    phone_id, _lock = demo_phone(shop, base_url, secret_key, Path(gw.settings.var_dir))
    product = shop.create_installment_product("Phone 6 months", terms=[6], method="equal_installment", apr="12", down_payment_share="0.1")
    plan = shop.create_installment_plan(steady["id"], card["id"], product["id"], 6, 259900, device=phone_id)
    print(f"  {steady['id']} (Li Lei) consents to device_usage and buys phone {phone_id} on 6 months: plan {plan['state']}")
    steady_dues = [date.fromisoformat(item["due_date"]) for item in plan["schedule"][:2]]
    late_dues = [date.fromisoformat(item["due_date"]) for item in late_plan["schedule"] if item["status"] != "paid"]
    for day in sorted({*steady_dues, *(due for due in late_dues if due <= steady_dues[-1])}):
        live_through(shop, gw, day)
    today = steady_dues[-1] + timedelta(days=1)
    live_through(shop, gw, today)
    loaded = shop.sandbox_usage_history(phone_id, USAGE_DAYS, "steady")
    print(f"  {today}: Li Lei paid two installments on time; the sandbox loads {loaded['days']} days of the phone's daily usage")
    profiles = [shop.refresh_credit_profile(customer) for customer in (late_customer["id"], steady["id"])]
    print(f"  {today}: POST /v1/customers/{{id}}/credit_profile/refresh\n")
    _side_by_side(["Wang Fang: late once, no device data", "Li Lei: on time, steady phone use"], profiles)


def _steady_customer(shop: Paygate) -> tuple[dict, dict]:
    """Li Lei, registered with card and device consents and a CCB card bound."""
    id_number = sandbox_id_number(date(1995, 3, 14), order=1 + secrets.randbelow(998))  # the demo can run again on its database
    customer = shop.create_customer("Li Lei", "13700137000", id_number, IDENTITY_CONSENT)
    for consent in CONSENTS:
        shop.grant_consent(customer["id"], *consent)
    started = shop.start_card_binding(customer["id"], sandbox_card_number("CCB", "6666"), 12, 2030, "123")
    return customer, shop.verify_card(customer["id"], started["id"], shop.sandbox_sms_code(started["id"]))


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
