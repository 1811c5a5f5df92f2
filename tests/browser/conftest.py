"""Browser tests: the gateway served on a free local port over a fresh database, a stand-in for
the merchant's shop (where success_url and cancel_url lead), and Debian's Chromium driven by
Playwright (it cannot download its own browser here). Screenshots of every page under test go
to var/screenshots (printed at the end of the run)."""
from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from gateway.adapters.db.schema import upgrade
from gateway.app import create_app
from gateway.services.dashboard_users import Role, create_user
from gateway.services.merchants import NewMerchant, create_merchant
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.demo import to_banking_hours
from gateway.sdk.client import Paygate
from tests.integration.conftest import approved_last4

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "correct horse battery staple"
PHONE = 390, 844  # the shopper's phone
DESKTOP = 1280, 900


def _require_chromium() -> None:
    """Never skip silently: `make test` installs Chromium; a bare pytest run says how."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.exit(f"the browser tests need Debian's Chromium at {CHROMIUM}: run `sudo apt-get install -y chromium` "
                    "(or `make test` as root, which installs it)", returncode=3)


def _shop_app(environ, start_response):
    """The merchant's site: where the hosted page sends the shopper back."""
    path = environ.get("PATH_INFO", "/")
    title = {"/thanks": "Thank you, your order is paid", "/cancel": "Your order was canceled"}.get(path, "Demo Phone Shop")
    body = f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body><h1>{title}</h1></body></html>'
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body.encode()]


def _serve(app) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@dataclass
class Merchant:
    """A merchant's side of the API over HTTP, with its secret key."""

    base_url: str
    keys: NewMerchant

    @property
    def id(self) -> str:
        return self.keys.id

    def call(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {key or self.keys.secret_key}", "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode() if body is not None else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def ok(self, method: str, path: str, body: dict | None = None, key: str | None = None) -> dict:
        status, answer = self.call(method, path, body, key)
        assert status == 200, answer
        return answer

    def card_payment(self, amount: int, description: str) -> dict:
        """A paid card payment, the way a merchant's own checkout makes one."""
        card = {"card_number": sandbox_card_number("ICBC", approved_last4()), "holder_name": "Li Lei", "exp_month": 12, "exp_year": 2031, "cvv": "123"}
        token = self.ok("POST", "/v1/tokens", card, key=self.keys.publishable_key)["id"]
        payment = self.ok("POST", "/v1/payments", {"amount": amount, "currency": "CNY", "payment_method": token, "confirm": True, "description": description})
        assert payment["status"] == "succeeded", payment
        return payment

    def installment_plan(self, months: int) -> dict:
        """A registered customer with a bound card buys the phone on `months` installments."""
        from gateway.domain.sandbox_ids import sandbox_id_number

        customer = self.ok("POST", "/v1/customers", {"name": "Zhang Wei", "mobile": "13900139000",
                                                     "id_number": sandbox_id_number(date(1988, 3, 9), order=int(approved_last4()) % 998 + 1),
                                                     "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}})
        self.ok("POST", f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "2026-01", "purpose": "bind and charge debit cards"})
        card = self.ok("POST", f"/v1/customers/{customer['id']}/cards", {"card_number": sandbox_card_number("ICBC", approved_last4()), "exp_month": 12, "exp_year": 2031, "cvv": "123"})
        code = self.ok("GET", f"/v1/sandbox/card_bindings/{card['id']}/sms_code")["code"]
        self.ok("POST", f"/v1/customers/{customer['id']}/cards/{card['id']}/verify", {"code": code})
        product = self.ok("POST", "/v1/installment_products", {"name": "Phone", "terms": [months], "method": "equal_installment", "apr": "12"})
        return self.ok("POST", "/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": months, "amount": 399900})

    def payments_of(self, session_id: str) -> list[dict]:
        answer = self.ok("GET", "/v1/payments?limit=100")
        return [p for p in answer["data"] if p["metadata"].get("checkout_session") == session_id]


@dataclass
class Site:
    base_url: str
    shop_url: str
    gw: object
    merchant: Merchant
    other: Merchant
    product_id: str
    users: dict[str, str] = field(default_factory=dict)  # role -> e-mail

    def session(self, **overrides) -> dict:
        body = {
            "line_items": [{"name": "Paygate Phone 12 (128 GB)", "amount": 399900}], "currency": "CNY",
            "payment_methods": ["card", "wallet", "installments"], "installment_product": self.product_id,
            "success_url": f"{self.shop_url}/thanks?session={{CHECKOUT_SESSION_ID}}", "cancel_url": f"{self.shop_url}/cancel", **overrides,
        }
        return self.merchant.ok("POST", "/v1/checkout/sessions", body)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{var_dir / 'paygate.db'}"
    upgrade(url)
    app = create_app({"database_url": url, "var_dir": str(var_dir), "sandbox_endpoints": True, "sandbox_latency_ms": 0,
                      "pki_dir": str(var_dir / "ca")})
    gw = app.extensions["paygate"]
    base_url, server = _serve(app)
    shop_url, shop_server = _serve(_shop_app)
    merchant = Merchant(base_url, create_merchant(gw, "Demo Phone Shop"))
    # The sandbox clock at the next 10:00 in Beijing, moving on in real time: within the sandbox
    # banks' hours, as in the demo.
    to_banking_hours(Paygate(base_url, merchant.keys.secret_key))
    other = Merchant(base_url, create_merchant(gw, "Another Shop"))
    product = merchant.ok("POST", "/v1/installment_products", {
        "name": "Phone on installments", "terms": [3, 6, 12], "method": "equal_installment", "apr": "12",
        "down_payment_share": "0.1", "grace_days": 5, "late_fee_fixed": 2000, "late_fee_cap": 5000,
    })
    found = Site(base_url, shop_url, gw, merchant, other, product["id"])
    for role, merchant_id in ((Role.OPERATOR, None), (Role.MERCHANT_ADMIN, merchant.id), (Role.MERCHANT_VIEWER, merchant.id)):
        email = f"{role.value.replace('_', '.')}@example.com"
        create_user(gw, email, PASSWORD, role, merchant_id)
        found.users[role.value] = email
    yield found
    server.shutdown()
    shop_server.shutdown()
    gw.db.dispose()


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def _page(browser, size: tuple[int, int], mobile: bool):
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile, has_touch=mobile,
                                  device_scale_factor=2 if mobile else 1, locale="en-US", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    return context, context.new_page()


@pytest.fixture
def phone(browser):
    """A shopper's phone: 390 x 844."""
    context, page = _page(browser, PHONE, mobile=True)
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context, page = _page(browser, DESKTOP, mobile=False)
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)

    def shoot(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot


def unlabelled_inputs(page) -> list[str]:
    """Inputs and selects a screen reader could not name (no <label>, no aria-label)."""
    return page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label'))
        .map(el => el.id || el.name || el.outerHTML)""")


def sign_in(page, site: Site, role: str) -> None:
    page.goto(f"{site.base_url}/dashboard/")
    page.get_by_label("E-mail").fill(site.users[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.base_url}/dashboard/")


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"screenshots of the pages under test: {SCREENSHOTS}")
