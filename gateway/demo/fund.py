"""The demo's fund part (Huoqibao), through the SDK: a customer subscribes on a Friday after 15:00,
sees the order confirmed on the next trading day, earns over a weekend, pays an installment from
the fund, redeems fast up to the cap and the rest normally; then a table of 10 days of income and
yields. Time moves with the sandbox clock; the day's work is done by one pass of the fund queue
(`POST /v1/sandbox/queues/fund/run`), as `paygate worker --queue fund` would."""
from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from datetime import date, datetime, time, timedelta

import chinese_calendar
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.domain.clock import BEIJING
from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.sdk.client import Paygate, PaygateError

# The manager's daily income per 10,000 units, cycled over the days of the demo.
FIGURES = ["0.6512", "0.6498", "0.6530", "0.6475", "0.6601", "0.6588", "0.6523", "0.6490", "0.6555", "0.6612"]


class _Manager:
    """The fund manager's side: its signing key and the signed daily lines."""

    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()

    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def signature(self, day: date, figure: str) -> str:
        message = json.dumps({"date": day.isoformat(), "income_per_10k": figure}, sort_keys=True, separators=(",", ":")).encode()
        return base64.b64encode(self.key.sign(message)).decode()


def fund_part(shop: Paygate, out=print, id_order: int = 1) -> None:
    """`shop` holds a secret key of a gateway in test mode; `id_order` keeps the customer's
    sandbox resident ID apart from other runs' on the same merchant."""
    out("\nHuoqibao: a money-market fund in the app")
    manager = _Manager()
    fund = shop.create_fund(f"{900000 + id_order:06d}", "Huoqibao", "E Fund", manager.public_pem())
    out(f"  fund {fund['id']} ({fund['code']} {fund['name']}, managed by {fund['manager']}): {fund['carryover']} carryover, cut-off {fund['cutoff']}, "
        f"fast redemption up to {yuan(fund['fast_redemption_daily_cap'])} a day")
    customer, card = _customer(shop, out, id_order)

    def travel(day: date, hour: int, minute: int = 0) -> None:
        shop.advance_clock(datetime.combine(day, time(hour, minute), BEIJING))

    def run_fund_queue() -> None:
        while shop.sandbox_run_queue("fund")["done"]:
            pass

    today = shop.sandbox_now().astimezone(BEIJING).date()
    first_figure = today - timedelta(days=8)  # the fund has a week of figures before the demo starts
    fed = [first_figure - timedelta(days=1)]

    def feed_until(last: date) -> None:
        while fed[0] < last:
            fed[0] += timedelta(days=1)
            figure = FIGURES[(fed[0] - first_figure).days % len(FIGURES)]
            shop.record_fund_income(fund["id"], fed[0].isoformat(), figure, manager.signature(fed[0], figure))

    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    travel(friday, 15, 30)
    order = shop.subscribe_fund(customer["id"], fund["id"], 2_000_000, card["id"])
    out(f"  {friday:%a %Y-%m-%d} 15:30: subscribes {yuan(order['amount'])} from the card: {order['status']}; after the cut-off, so the order's "
        f"trading day is {order['trade_date']} and units are confirmed on {order['confirmation_date']}")
    confirmed_on = date.fromisoformat(order["confirmation_date"])
    travel(confirmed_on, 9)
    feed_until(confirmed_on - timedelta(days=1))
    run_fund_queue()
    seen = _holding(shop, customer, fund)
    out(f"  {confirmed_on:%a %Y-%m-%d}: confirmed, {seen['units'] / 100:,.2f} units earning from today")

    saturday = confirmed_on + timedelta(days=(5 - confirmed_on.weekday()) % 7)
    monday = saturday + timedelta(days=2)
    travel(monday + timedelta(days=1), 9)
    feed_until(monday)
    run_fund_queue()
    seen = _holding(shop, customer, fund)
    out(f"  {monday + timedelta(days=1):%a %Y-%m-%d} morning: yesterday's income {yuan(seen['yesterday_income'])}, "
        f"cumulative {yuan(seen['cumulative_income'])} (the weekend earned too), balance {yuan(seen['balance'])}")

    product = shop.create_installment_product("Smart watch 3 months", terms=[3], method="interest_free", fee_rate="0", grace_days=5)
    plan = shop.create_installment_plan(customer["id"], card["id"], product["id"], 3, 129_900, source="fund", fund=fund["id"])
    paid = shop.pay_installment_plan(plan["id"], "next")
    first = shop.retrieve_installment_plan(plan["id"])["schedule"][0]
    out(f"  a watch on 3 installments, paid from the fund: installment 1 ({yuan(first['principal'] + first['interest'])}) "
        f"{first['status']} from {paid['id']} (a fast redemption: it counts against today's cap)")

    seen = _holding(shop, customer, fund)
    fast = shop.redeem_fund(customer["id"], fund["id"], seen["fast_redemption_available_today"], "fast", card["id"])
    out(f"  fast redemption of what the cap leaves today, {yuan(fast['amount'])}: {fast['status']} to the card at once")
    try:
        shop.redeem_fund(customer["id"], fund["id"], 1, "fast", card["id"])
    except PaygateError as over:
        out(f"  one fen more, fast: {over.status} {over.code}: {over.message}")
    rest = _holding(shop, customer, fund)["units"]
    normal = shop.redeem_fund(customer["id"], fund["id"], rest, "normal", card["id"])
    out(f"  the rest, {yuan(rest)}, the normal way: {normal['status']}, paid on {normal['pay_date']}")
    travel(date.fromisoformat(normal["pay_date"]), 10)
    run_fund_queue()
    out(f"  {normal['pay_date']}: normal redemption {shop.retrieve_fund_redemption(normal['id'])['status']}")

    _income_table(shop, out, customer, fund, monday)


def _customer(shop: Paygate, out, id_order: int) -> tuple[dict, dict]:
    identity = {"version": "2026-01", "purpose": "real-name verification"}
    customer = shop.create_customer("Zhao Min", "13700137000", sandbox_id_number(date(1988, 3, 9), order=id_order), identity)
    shop.grant_consent(customer["id"], "bank_card", "2026-01", "bind and charge debit cards")
    shop.grant_consent(customer["id"], "fund", "2026-11", "buy and hold units of Huoqibao")
    # A card new to the sandbox bank on every run: the bank counts each card's CNY 50,000 a day,
    # and the demo run again over the same database lives through the same sandbox days.
    last4 = f"{6000 + secrets.randbelow(1000)}"  # none of the sandbox's test-outcome cards
    started = shop.start_card_binding(customer["id"], sandbox_card_number("ICBC", last4), 12, 2030, "123")
    card = shop.verify_card(customer["id"], started["id"], shop.sandbox_sms_code(started["id"]))
    out(f"  customer {customer['id']} with identity, bank_card and fund consents; card {card['masked_number']} bound")
    return customer, card


def _holding(shop: Paygate, customer: dict, fund: dict) -> dict:
    return next(row for row in shop.fund_holdings(customer["id"])["data"] if row["fund"] == fund["id"])


def _income_table(shop: Paygate, out, customer: dict, fund: dict, last: date) -> None:
    start = last - timedelta(days=9)
    yields = {row["date"]: row for row in shop.fund_yields(fund["id"], start.isoformat(), last.isoformat())["data"]}
    earned: dict[str, int] = {}
    for month in sorted({start.strftime("%Y-%m"), last.strftime("%Y-%m")}):
        for statement in shop.fund_statements(customer["id"], month)["data"]:
            if statement["fund"] == fund["id"]:
                earned.update({line["date"]: line["amount"] for line in statement["lines"] if line["kind"] == "income"})
    out("\n  day          income/10k units  7-day yield  the customer earned")
    for offset in range(10):
        day = (start + timedelta(days=offset)).isoformat()
        row = yields.get(day, {})
        annualized = row.get("seven_day_annualized")
        out(f"  {day}  {row.get('income_per_10k', '-'):>16}  {(annualized + ' %') if annualized else '-':>11}  {yuan(earned.get(day, 0)):>18}")


# Dates closed by law every year whatever the State Council's yearly schedule says (New Year's
# Day, Labour Day, the first three days of National Day); the lunar holidays and the make-up
# working days of a new year are known only once the schedule is published each autumn.
FIXED_CLOSED_DAYS = ((1, 1), (5, 1), (10, 1), (10, 2), (10, 3))


def provisional_calendar(override_file: Path, today: date, out=print) -> None:
    """For the demo only: when chinese-calendar does not know next year yet, describe it in the
    operator override file (weekends and the fixed-date holidays closed), marked provisional, so
    the demo's trading days stay computable. A file the operator wrote is never touched."""
    year = today.year + 1
    try:
        chinese_calendar.is_holiday(date(year, 6, 1))
        return  # the library knows next year
    except NotImplementedError:
        pass
    if override_file.exists():
        return
    lines = [f"# PROVISIONAL, written by the demo: replace with the State Council's {year} schedule", f"year {year}"]
    lines += [f"{date(year, month, day).isoformat()} closed" for month, day in FIXED_CLOSED_DAYS]
    override_file.parent.mkdir(parents=True, exist_ok=True)
    override_file.write_text("\n".join(lines) + "\n")
    out(f"  trading calendar {year}: not in chinese-calendar yet; a provisional one (weekends and fixed holidays) in {override_file}")
