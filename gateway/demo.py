"""`paygate demo`: the gateway on embedded defaults (a SQLite file under ./var), driven over real
HTTP the way a merchant's checkout would drive it, then checked with `ledger verify`."""
from __future__ import annotations

import json
import logging
import secrets
import threading
from datetime import datetime, time, timedelta, timezone
from time import monotonic
import urllib.error
import urllib.request
import uuid

from werkzeug.serving import make_server

from gateway.adapters.db.schema import upgrade
from gateway.app import create_app
from gateway.domain.clock import BEIJING
from gateway.config import Settings
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.domain.banks import bank_by_code
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.services.ledger import verify
from gateway.services.merchants import create_merchant


class Client:
    """A merchant's view of the API: JSON over HTTP with its key."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url, self.key = base_url, key

    def call(self, method: str, path: str, body: dict | None = None, idempotency_key: str | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def post(self, path: str, body: dict) -> dict:
        return self.call("POST", path, body, idempotency_key=str(uuid.uuid4()))[1]

    def get(self, path: str) -> dict:
        return self.call("GET", path)[1]


def banking_hours_today():
    """The demo runs at 10:00 Beijing time today (moving on in real time), so it never meets a
    sandbox bank's night maintenance window."""
    now = datetime.now(timezone.utc)
    start = datetime.combine(now.astimezone(BEIJING).date(), time(10, 0), BEIJING).astimezone(timezone.utc)
    began = monotonic()
    return lambda: start + timedelta(seconds=monotonic() - began)


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"CNY {sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def run_demo() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the summary
    settings = Settings.load()
    upgrade(settings.database_url)
    app = create_app()
    gw = app.extensions["paygate"]
    gw.clock = banking_hours_today()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    print(f"paygate demo: gateway on {base_url}, database {settings.database_url}\n")
    try:
        merchant = create_merchant(gw, "Demo Phone Shop")
        print(f"merchant {merchant.id} created (secret key shown once: {merchant.secret_key[:12]}...)")
        shop = Client(base_url, merchant.secret_key)
        checkout = Client(base_url, merchant.publishable_key)
        card_payments(shop, checkout)
        customers_and_saved_cards(shop, gw, base_url)
        balance = shop.get("/v1/balance")["available"][0]
    finally:
        server.shutdown()
    print(f"\nmerchant balance (captures - 0.6% fees - refunds): {yuan(balance['amount'])}")
    report = verify(gw)
    print("\n$ paygate ledger verify")
    for problem in report.problems:
        print(f"FAIL {problem}")
    print(f"ledger ok: {report.transactions} transactions balance" if report.ok else "ledger verify FAILED")
    return 0 if report.ok else 1


def card_payments(shop: Client, checkout: Client) -> None:
    def tokenize(last4: str, bank: str) -> str:
        card = {"card_number": sandbox_card_number(bank, last4), "holder_name": "Li Lei", "exp_month": 12, "exp_year": 2030, "cvv": "123"}
        return checkout.post("/v1/tokens", card)["id"]

    def show(label: str, payment: dict) -> None:
        extra = f" ({payment['failure_code']})" if payment.get("failure_code") else ""
        print(
            f"  {label:<34} {payment['id']}  {yuan(payment['amount']):>14}  {payment['status']}{extra}"
            f"  received {yuan(payment['amount_received'])}, refunded {yuan(payment['amount_refunded'])}"
        )

    print("\ncard payments (sandbox bank):")
    paid = shop.post("/v1/payments", {"amount": 399900, "currency": "CNY", "payment_method": tokenize("4242", "ICBC"), "confirm": True, "description": "phone"})
    show("phone, ICBC card", paid)
    declined = shop.post("/v1/payments", {"amount": 12900, "currency": "CNY", "payment_method": tokenize("0002", "CCB"), "confirm": True})
    show("case, CCB card ending 0002", declined)
    held = shop.post("/v1/payments", {"amount": 59900, "currency": "CNY", "payment_method": tokenize("5556", "BOC"), "capture_method": "manual", "confirm": True})
    show("earbuds, manual capture: held", held)
    captured = shop.post(f"/v1/payments/{held['id']}/capture", {"amount_to_capture": 49900})
    show("earbuds, captured 499 of 599", captured)
    refund = shop.post("/v1/refunds", {"payment": paid["id"], "amount": 50000})
    print(f"  partial refund {refund['id']} of {yuan(refund['amount'])} on the phone: {refund['status']}")
    show("phone after refund", shop.get(f"/v1/payments/{paid['id']}"))


def customers_and_saved_cards(shop: Client, gw, base_url: str) -> None:
    print("\ncustomer registration and saved cards:")
    id_number = sandbox_id_number(datetime(1992, 6, 18).date(), order=secrets_order())
    customer = shop.post(
        "/v1/customers",
        {"name": "Wang Fang", "mobile": "13800138000", "id_number": id_number, "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}},
    )
    print(f"  registered {customer['id']}: ID shown as {customer['id_number']}, mobile {customer['mobile']}")
    underage = shop.call("POST", "/v1/customers", {"name": "Xiao Ming", "mobile": "13900139000", "id_number": sandbox_id_number(datetime(2010, 1, 1).date()), "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}})[1]
    print(f"  a 16-year-old is refused: {underage['error']['code']}")
    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "2026-01", "purpose": "bind and charge debit cards"})
    print("  consent recorded: bank_card")
    for bank, amount in (("ICBC", 129900), ("CMB", 39900)):
        started = shop.post(f"/v1/customers/{customer['id']}/cards", {"card_number": sandbox_card_number(bank, "8888"), "exp_month": 12, "exp_year": 2030, "cvv": "123"})
        code = shop.get(f"/v1/sandbox/card_bindings/{started['id']}/sms_code")["code"]
        card = shop.post(f"/v1/customers/{customer['id']}/cards/{started['id']}/verify", {"code": code})
        print(f"  {bank} card {card['masked_number']} bound with SMS code {code}: {card['status']}")
        payment = shop.post("/v1/payments", {"amount": amount, "currency": "CNY", "payment_method": {"type": "saved_card", "card": card["id"]}, "confirm": True})
        print(f"    paid {yuan(amount)} with it: {payment['status']} via {gw.connector_for_bank(bank_by_code(bank)).name}")
        if payment["status"] == "processing":
            connector = gw.connector_for_bank(bank_by_code(bank))
            body, signature = connector.signed_callback(payment["id"])
            request = urllib.request.Request(f"{base_url}/v1/bank_callbacks/{connector.name}", data=body, method="POST", headers={"Bank-Signature": signature, "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                settled = json.loads(response.read())
            print(f"    the bank's signed callback arrived: {settled['status']}")


def secrets_order() -> int:
    """A fresh order number so that the demo can run again on the same database."""
    return 1 + secrets.randbelow(998)
