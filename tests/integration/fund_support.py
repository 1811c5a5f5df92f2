"""What the fund tests share: a fund manager who signs the daily feed, and a customer ready to
buy units (identity, bank card and fund consents, a bound card)."""
from __future__ import annotations

import base64
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.domain.clock import BEIJING
from gateway.domain.fund import signed_feed_message
from gateway.services import fund_accrual

FUND_CONSENT = {"kind": "fund", "version": "2026-11", "purpose": "buy and hold units of the Huoqibao money-market fund"}


class Manager:
    """The fund manager: holds the Ed25519 key that signs the daily income feed."""

    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()

    @property
    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, day: date, figure: str) -> str:
        return base64.b64encode(self.key.sign(signed_feed_message(day, figure))).decode()

    def line(self, day: date, figure: str) -> dict:
        return {"date": day.isoformat(), "income_per_10k": figure, "signature": self.sign(day, figure)}


def create_fund(shop, manager: Manager, **overrides) -> dict:
    body = {"code": f"{uuid.uuid4().int % 1_000_000:06d}", "name": "Huoqibao", "manager": "E Fund", "manager_public_key": manager.public_pem, **overrides}
    response = shop.post("/v1/funds", body)
    assert response.status_code == 200, response.json
    return response.json


def fund_customer(shop, bank: str = "ICBC", last4: str | None = None) -> tuple[dict, dict]:
    customer = shop.customer()
    assert shop.post(f"/v1/customers/{customer['id']}/consents", FUND_CONSENT).status_code == 200
    card = shop.saved_card(customer["id"], bank, last4)
    return customer, card


def subscribe(shop, customer: dict, card: dict, fund: dict, amount: int):
    return shop.post(f"/v1/customers/{customer['id']}/fund_subscriptions", {"fund": fund["id"], "amount": amount, "payment_method": card["id"]},
                     idempotency_key=str(uuid.uuid4()))


def redeem(shop, customer: dict, card: dict, fund: dict, amount: int, speed: str = "fast"):
    return shop.post(f"/v1/customers/{customer['id']}/fund_redemptions", {"fund": fund["id"], "amount": amount, "speed": speed, "card": card["id"]},
                     idempotency_key=str(uuid.uuid4()))


def holding(shop, customer: dict, fund: dict) -> dict:
    response = shop.get(f"/v1/customers/{customer['id']}/fund_holdings")
    assert response.status_code == 200, response.json
    return next((row for row in response.json["data"] if row["fund"] == fund["id"]), None)


def beijing(day: date, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), BEIJING)


def feed(shop, manager: Manager, fund: dict, first: date, figures: list[str]) -> None:
    for offset, figure in enumerate(figures):
        response = shop.post(f"/v1/funds/{fund['id']}/income", manager.line(first + timedelta(days=offset), figure))
        assert response.status_code == 200, response.json


def run_fund_queue(gw) -> None:
    while fund_accrual.run_once(gw):
        pass


def income(units: int, figure: str) -> int:
    """The test's own rounding-down of one holder's income (hundredths)."""
    return math.floor(Decimal(units) * Decimal(figure) / 10_000)
