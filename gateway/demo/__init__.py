"""`paygate demo`: the gateway on embedded defaults (a SQLite file under ./var), driven over real
HTTP the way a merchant's checkout would drive it, then checked with `ledger verify`."""
from __future__ import annotations

import json
import logging
import secrets
import signal
import threading
from pathlib import Path
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic
import urllib.error
import urllib.request
import uuid

from werkzeug.serving import make_server

from gateway.adapters.db.schema import upgrade
from gateway.app import create_app
from gateway.domain.clock import BEIJING
from gateway.config import Settings
from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_ids import sandbox_id_number
from device_agents.enroll import enroll, http_enroller
from device_agents.payg import EMERGENCY, PAYG_FILE, PaygLock
from gateway.demo.devices import demo_pki_dir, ensure_device_ca, show_devices
from gateway.demo.web import show_web
from gateway.demo.webhooks import show_webhook_delivery
from gateway.domain.banks import bank_by_code
from gateway.entrypoints.workers.runner import run
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


def _interrupt(_signum, _frame) -> None:
    """A plain SIGTERM would skip the finally blocks that stop the demo's broker."""
    raise KeyboardInterrupt


def run_demo() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the summary
    # The device CA under var/ (not in the repo), and test mode for the sandbox banks and wallets.
    overrides = {"pki_dir": str(demo_pki_dir(Settings.load())), "sandbox_endpoints": True}
    settings = Settings.load(overrides)
    upgrade(settings.database_url)
    ensure_device_ca(settings.pki_dir)  # devices enroll in the installments part already
    app = create_app(overrides)
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
        customer, card = customers_and_saved_cards(shop, gw, base_url)
        wallet_and_webhooks(shop, gw, merchant.id)
        phone_on_installments(shop, gw, base_url, merchant.secret_key, customer, card)
        devices_ok = show_devices(gw, base_url, merchant.secret_key)
        show_web(base_url, merchant.secret_key)
        balance = shop.get("/v1/balance")["available"][0]
    finally:
        server.shutdown()
    print(f"\nmerchant balance (captures - 0.6% fees - refunds): {yuan(balance['amount'])}")
    report = verify(gw)
    print("\n$ paygate ledger verify")
    for problem in report.problems:
        print(f"FAIL {problem}")
    print(f"ledger ok: {report.transactions} transactions balance" if report.ok else "ledger verify FAILED")
    return 0 if report.ok and devices_ok else 1


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


def customers_and_saved_cards(shop: Client, gw, base_url: str) -> tuple[dict, dict]:
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
    cards = {}
    for bank, amount in (("ICBC", 129900), ("CMB", 39900)):
        started = shop.post(f"/v1/customers/{customer['id']}/cards", {"card_number": sandbox_card_number(bank, "8888"), "exp_month": 12, "exp_year": 2030, "cvv": "123"})
        code = shop.get(f"/v1/sandbox/card_bindings/{started['id']}/sms_code")["code"]
        card = shop.post(f"/v1/customers/{customer['id']}/cards/{started['id']}/verify", {"code": code})
        print(f"  {bank} card {card['masked_number']} bound with SMS code {code}: {card['status']}")
        cards[bank] = card
        payment = shop.post("/v1/payments", {"amount": amount, "currency": "CNY", "payment_method": {"type": "saved_card", "card": card["id"]}, "confirm": True})
        print(f"    paid {yuan(amount)} with it: {payment['status']} via {gw.connector_for_bank(bank_by_code(bank)).name}")
        if payment["status"] == "processing":
            connector = gw.connector_for_bank(bank_by_code(bank))
            body, signature = connector.signed_callback(payment["id"])
            request = urllib.request.Request(f"{base_url}/v1/bank_callbacks/{connector.name}", data=body, method="POST", headers={"Bank-Signature": signature, "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                settled = json.loads(response.read())
            print(f"    the bank's signed callback arrived: {settled['status']}")
    return customer, cards["ICBC"]


def wallet_and_webhooks(shop: Client, gw, merchant_id: str) -> None:
    def pay_by_wallet() -> None:
        print("  wallet payment (alipay_like):")
        order = shop.post("/v1/payments", {"amount": 6800, "currency": "CNY", "payment_method": {"type": "wallet", "provider": "alipay_like"}, "confirm": True})
        print(f"    {order['id']} {yuan(order['amount'])}: {order['status']}, QR {order['next_action']['qr_payload']}")
        paid = shop.post(f"/v1/sandbox/wallets/payments/{order['id']}/confirm", {"approve": True})
        print(f"    shopper confirms in the app; the provider's RSA2-signed notify arrives: {paid['status']}")

    show_webhook_delivery(gw, merchant_id, pay_by_wallet)


def phone_on_installments(shop: Client, gw, base_url: str, secret_key: str, customer: dict, card: dict) -> None:
    """Sell a phone on 12 installments; travel through a missed payment (the phone locks, even
    offline) and a recovery (a token typed on its keypad unlocks it)."""
    print("\ninstallments: a phone on 12 months")
    clock = TravelClock(gw)
    device_id, lock = demo_phone(base_url, secret_key, gw.settings.var_dir, gw.clock)
    product = shop.post("/v1/installment_products", {"name": "Phone 12 months", "terms": [3, 6, 12], "method": "equal_installment", "apr": "12", "down_payment_share": "0.1", "grace_days": 5, "late_fee_fixed": 2000, "late_fee_cap": 5000})
    quote = shop.post("/v1/installment_quotes", {"amount": 399900, "product": product["id"], "term_months": 12})
    print(f"  quote: down {yuan(quote['down_payment'])}, 12 x {yuan(quote['schedule'][0]['total'])}, cost of credit {yuan(quote['cost_of_credit'])}, APR {quote['apr']} %")
    plan = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 12, "amount": 399900, "device": device_id})
    print(f"  plan {plan['id']}: {plan['state']}; the merchant is paid in full now; financed {yuan(plan['financed'])}")

    def tokens_to_phone() -> None:  # the phone is offline: the shopper types each new token in
        for token in shop.get(f"/v1/installment_plans/{plan['id']}")["device_tokens"][tokens_to_phone.seen:]:
            result = lock.enter(token["token"])
            print(f"    token {token['token']} ({token['kind']}, {token['days']} days) typed on the keypad: {'accepted' if result.accepted else result.reason}")
        tokens_to_phone.seen = len(shop.get(f"/v1/installment_plans/{plan['id']}")["device_tokens"])

    tokens_to_phone.seen = 0
    tokens_to_phone()
    schedule = plan["schedule"]

    def day(number: int, offset: int) -> date:
        return date.fromisoformat(schedule[number - 1]["due_date"]) + timedelta(days=offset)

    clock.go(day(1, 0))
    run(gw, ["installments"], once=True)
    tokens_to_phone()
    print(f"  {clock.today()}: installment 1 debited; phone {'locked' if lock.locked() else 'unlocked'}")
    shop.post(f"/v1/customers/{customer['id']}/consents/bank_card/withdraw", {})
    print("  the shopper withdraws card consent: installment 2 cannot be debited")
    for offset in (0, 1, 3, 5, 6):
        clock.go(day(2, offset))
        run(gw, ["installments"], once=True)
    seen = shop.get(f"/v1/installment_plans/{plan['id']}")
    print(f"  {clock.today()}: plan {seen['delinquency']}, overdue {yuan(seen['overdue'])} incl. a late fee of {yuan(seen['schedule'][1]['late_fee'])}; "
          f"phone {'LOCKED (emergency calls still allowed)' if lock.locked() and lock.allows(EMERGENCY) else 'unlocked'}")
    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "2026-01", "purpose": "bind and charge debit cards"})
    clock.go(day(2, 12))
    run(gw, ["installments"], once=True)
    tokens_to_phone()
    seen = shop.get(f"/v1/installment_plans/{plan['id']}")
    print(f"  {clock.today()}: consent given again, the weekly retry collects it; plan {seen['delinquency']}; phone {'locked' if lock.locked() else 'unlocked'}")
    print(f"  plan {seen['id']}: {seen['state']}, paid {yuan(seen['paid'])}, outstanding {yuan(seen['outstanding'])}")
    for item in seen["schedule"][:4]:
        print(f"    #{item['number']:<2} due {item['due_date']}  {yuan(item['principal'] + item['interest']):>12}  late fee {yuan(item['late_fee']):>10}  {item['status']}")
    print(f"    ... {len(seen['schedule']) - 4} more")
    clock.back()


class TravelClock:
    """Moves the demo gateway's clock to a given Beijing day (10:00), and back."""

    def __init__(self, gw) -> None:
        self.gw, self.real = gw, gw.clock
        self.offset = timedelta(0)
        gw.clock = lambda: self.real() + self.offset

    def go(self, day: date) -> None:
        target = datetime.combine(day, time(10, 0), BEIJING)
        self.offset += target - self.gw.clock()

    def today(self) -> date:
        return self.gw.clock().astimezone(BEIJING).date()

    def back(self) -> None:
        self.gw.clock = self.real


def demo_phone(base_url: str, secret_key: str, var_dir: Path, clock):
    """A phone enrolled over the API (its keys and OpenPAYGO credentials kept on the phone, under
    var/), and its on-device lock running on the demo's clock."""
    home = var_dir / "demo-phone" / secrets.token_hex(4)
    device_id = enroll(home, "phone", "Demo Phone 12", http_enroller(base_url, secret_key))
    lock = PaygLock(home / PAYG_FILE, clock=clock)
    print(f"  phone {device_id} enrolled; its OpenPAYGO credentials stay on the phone; locked until paid: {lock.locked()}")
    return device_id, lock


def secrets_order() -> int:
    """A fresh order number so that the demo can run again on the same database."""
    return 1 + secrets.randbelow(998)
