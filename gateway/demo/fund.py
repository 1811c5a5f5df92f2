"""The demo's fund part (Huoqibao), over HTTP only: a customer subscribes on a Friday after 15:00,
sees the order confirmed on the trading day after Monday's, earns over a weekend, pays an
installment from the fund, redeems fast up to the cap and the rest normally; then a table of 10
days of income and yields. Time moves with the sandbox clock (`POST /v1/sandbox/clock`); the
day's work is done by one pass of the fund queue (`POST /v1/sandbox/queues/fund/run`), as
`paygate worker --queue fund` would."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.domain.clock import BEIJING
from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number

# The manager's daily income per 10,000 units, cycled over the days of the demo.
FIGURES = ["0.6512", "0.6498", "0.6530", "0.6475", "0.6601", "0.6588", "0.6523", "0.6490", "0.6555", "0.6612"]


class _Manager:
    """The fund manager's side: its signing key and the signed daily lines."""

    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()

    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def line(self, day: date, figure: str) -> dict:
        message = json.dumps({"date": day.isoformat(), "income_per_10k": figure}, sort_keys=True, separators=(",", ":")).encode()
        return {"date": day.isoformat(), "income_per_10k": figure, "signature": base64.b64encode(self.key.sign(message)).decode()}


def fund_part(client, out: Callable[[str], None], today: date, id_order: int = 1) -> None:
    """`client` is the demo's HTTP client (gateway.demo.Client) with a secret key; `today` is the
    Beijing date on the gateway's clock when the part starts."""
    out("\nHuoqibao: a money-market fund in the app")
    manager = _Manager()
    fund = client.post("/v1/funds", {"code": f"{900000 + id_order:06d}", "name": "Huoqibao", "manager": "E Fund", "manager_public_key": manager.public_pem()})
    out(f"  fund {fund['id']} ({fund['code']} {fund['name']}, managed by {fund['manager']}): {fund['carryover']} carryover, cut-off {fund['cutoff']}, "
        f"fast redemption up to {yuan(fund['fast_redemption_daily_cap'])} a day")
    customer, card = _customer(client, out, id_order)

    def travel(day: date, hour: int, minute: int = 0) -> None:
        client.post("/v1/sandbox/clock", {"advance_to": datetime.combine(day, time(hour, minute), BEIJING).isoformat()})

    def run_fund_queue() -> None:
        while client.post("/v1/sandbox/queues/fund/run", {}).get("done"):
            pass

    first_figure = today - timedelta(days=8)  # the fund has a week of figures before the demo starts
    fed = [first_figure - timedelta(days=1)]

    def feed_until(last: date) -> None:
        while fed[0] < last:
            fed[0] += timedelta(days=1)
            client.post(f"/v1/funds/{fund['id']}/income", manager.line(fed[0], FIGURES[(fed[0] - first_figure).days % len(FIGURES)]))

    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    travel(friday, 15, 30)
    order = client.post(f"/v1/customers/{customer['id']}/fund_subscriptions", {"fund": fund["id"], "amount": 2_000_000, "payment_method": card["id"]})
    out(f"  {friday:%a %Y-%m-%d} 15:30: subscribes {yuan(order['amount'])} from the card: {order['status']}; after the cut-off, so the order's "
        f"trading day is {order['trade_date']} and units are confirmed on {order['confirmation_date']}")
    confirmed_on = date.fromisoformat(order["confirmation_date"])
    travel(confirmed_on, 9)
    feed_until(confirmed_on - timedelta(days=1))
    run_fund_queue()
    seen = _holding(client, customer, fund)
    out(f"  {confirmed_on:%a %Y-%m-%d}: confirmed, {seen['units'] / 100:,.2f} units earning from today")

    saturday = confirmed_on + timedelta(days=(5 - confirmed_on.weekday()) % 7)
    monday = saturday + timedelta(days=2)
    travel(monday + timedelta(days=1), 9)
    feed_until(monday)
    run_fund_queue()
    seen = _holding(client, customer, fund)
    out(f"  {monday + timedelta(days=1):%a %Y-%m-%d} morning: yesterday's income {yuan(seen['yesterday_income'])}, "
        f"cumulative {yuan(seen['cumulative_income'])} (the weekend earned too), balance {yuan(seen['balance'])}")

    plan = _installment_from_fund(client, customer, card, fund)
    paid = client.post(f"/v1/installment_plans/{plan['id']}/payments", {"kind": "next"})
    plan = client.get(f"/v1/installment_plans/{plan['id']}")
    first = plan["schedule"][0]
    out(f"  a watch on 3 installments, paid from the fund: installment 1 ({yuan(first['principal'] + first['interest'])}) "
        f"{first['status']} from {paid['id']} (a fast redemption: it counts against today's cap)")

    seen = _holding(client, customer, fund)
    fast = client.post(f"/v1/customers/{customer['id']}/fund_redemptions",
                       {"fund": fund["id"], "amount": seen["fast_redemption_available_today"], "speed": "fast", "card": card["id"]})
    out(f"  fast redemption of what the cap leaves today, {yuan(fast['amount'])}: {fast['status']} to the card at once")
    status, over = client.call("POST", f"/v1/customers/{customer['id']}/fund_redemptions",
                               {"fund": fund["id"], "amount": 1, "speed": "fast", "card": card["id"]}, idempotency_key=f"over-{order['id']}")
    out(f"  one fen more, fast: {status} {over['error']['code']}: {over['error']['message']}")
    rest = _holding(client, customer, fund)["units"]
    normal = client.post(f"/v1/customers/{customer['id']}/fund_redemptions", {"fund": fund["id"], "amount": rest, "speed": "normal", "card": card["id"]})
    out(f"  the rest, {yuan(rest)}, the normal way: {normal['status']}, paid on {normal['pay_date']}")
    travel(date.fromisoformat(normal["pay_date"]), 10)
    run_fund_queue()
    out(f"  {normal['pay_date']}: normal redemption {client.get(f'/v1/fund_redemptions/' + normal['id'])['status']}")

    _income_table(client, out, customer, fund, confirmed_on, monday)


def _customer(client, out, id_order: int) -> tuple[dict, dict]:
    identity = {"version": "2026-01", "purpose": "real-name verification"}
    customer = client.post("/v1/customers", {"name": "Zhao Min", "mobile": "13700137000", "id_number": sandbox_id_number(date(1988, 3, 9), order=id_order),
                                             "identity_consent": identity})
    client.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "2026-01", "purpose": "bind and charge debit cards"})
    client.post(f"/v1/customers/{customer['id']}/consents", {"kind": "fund", "version": "2026-11", "purpose": "buy and hold units of Huoqibao"})
    started = client.post(f"/v1/customers/{customer['id']}/cards", {"card_number": sandbox_card_number("ICBC", "6868"), "exp_month": 12, "exp_year": 2030, "cvv": "123"})
    code = client.get(f"/v1/sandbox/card_bindings/{started['id']}/sms_code")["code"]
    card = client.post(f"/v1/customers/{customer['id']}/cards/{started['id']}/verify", {"code": code})
    out(f"  customer {customer['id']} with identity, bank_card and fund consents; card {card['masked_number']} bound")
    return customer, card


def _installment_from_fund(client, customer: dict, card: dict, fund: dict) -> dict:
    product = client.post("/v1/installment_products", {"name": "Smart watch 3 months", "terms": [3], "method": "interest_free", "fee_rate": "0", "grace_days": 5})
    return client.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3,
                                                 "amount": 129_900, "source": "fund", "fund": fund["id"]})


def _holding(client, customer: dict, fund: dict) -> dict:
    return next(row for row in client.get(f"/v1/customers/{customer['id']}/fund_holdings")["data"] if row["fund"] == fund["id"])


def _income_table(client, out, customer: dict, fund: dict, first: date, last: date) -> None:
    start = last - timedelta(days=9)
    yields = {row["date"]: row for row in client.get(f"/v1/funds/{fund['id']}/yields?from={start}&to={last}")["data"]}
    earned: dict[str, int] = {}
    for month in sorted({start.strftime("%Y-%m"), last.strftime("%Y-%m")}):
        for statement in client.get(f"/v1/customers/{customer['id']}/fund_statements?month={month}")["data"]:
            if statement["fund"] == fund["id"]:
                earned.update({line["date"]: line["amount"] for line in statement["lines"] if line["kind"] == "income"})
    out("\n  day          income/10k units  7-day yield  the customer earned")
    for offset in range(10):
        day = (start + timedelta(days=offset)).isoformat()
        row = yields.get(day, {})
        annualized = row.get("seven_day_annualized")
        out(f"  {day}  {row.get('income_per_10k', '-'):>16}  {(annualized + ' %') if annualized else '-':>11}  {yuan(earned.get(day, 0)):>18}")
