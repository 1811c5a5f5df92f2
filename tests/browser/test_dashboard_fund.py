"""The dashboard's fund page: an operator and a merchant's viewer see the merchant's fund (units
outstanding, holders, the latest day accrued, the 7-day yield, normal redemptions waiting to be
paid, the daily income chart); another merchant's user does not."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from gateway.demo.fund import provisional_calendar
from gateway.domain.clock import BEIJING
from gateway.domain.fund import Carryover, seven_day_annualized
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.sdk.client import Paygate
from gateway.services.dashboard_users import Role, create_user
from tests.browser.conftest import PASSWORD, sign_in, unlabelled_inputs
from tests.integration.conftest import approved_last4
from tests.integration.fund_support import FUND_CONSENT, Manager

pytestmark = pytest.mark.browser

FIGURES = ["0.6512", "0.6498", "0.6530", "0.6475", "0.6601", "0.6588", "0.6523", "0.6490", "0.6555", "0.6612"]


def _holder(shop, order: int) -> tuple[dict, dict]:
    """A customer with identity, bank card and fund consents and a bound card."""
    customer = shop.ok("POST", "/v1/customers", {"name": "Qian Li", "mobile": "13800138000",
                                                 "id_number": sandbox_id_number(date(1991, 7, 17), order=order),
                                                 "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}})
    shop.ok("POST", f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "2026-01", "purpose": "bind and charge debit cards"})
    shop.ok("POST", f"/v1/customers/{customer['id']}/consents", FUND_CONSENT)
    card = shop.ok("POST", f"/v1/customers/{customer['id']}/cards", {"card_number": sandbox_card_number("ICBC", approved_last4()), "exp_month": 12, "exp_year": 2031, "cvv": "123"})
    code = shop.ok("GET", f"/v1/sandbox/card_bindings/{card['id']}/sms_code")["code"]
    shop.ok("POST", f"/v1/customers/{customer['id']}/cards/{card['id']}/verify", {"code": code})
    return customer, card


def test_the_fund_page_shows_a_merchants_fund_to_its_users_and_operators_only(site, desktop, screenshots):
    shop, sdk = site.merchant, Paygate(site.base_url, site.merchant.keys.secret_key)
    manager = Manager()
    code = f"{uuid.uuid4().int % 1_000_000:06d}"
    fund = shop.ok("POST", "/v1/funds", {"code": code, "name": "Huoqibao Test", "manager": "E Fund", "manager_public_key": manager.public_pem})

    # Two holders subscribe CNY 3,000.00 and CNY 2,000.00 today; the manager has published the
    # ten days before today.
    today = sdk.sandbox_now().astimezone(BEIJING).date()
    # Late in a year chinese-calendar does not know the next one yet: describe it as the demo does.
    provisional_calendar(site.gw.settings.trading_calendar_file, today, out=lambda line: None)
    fed = [today - timedelta(days=len(FIGURES) + 1)]

    def feed_until(last: date) -> None:
        while fed[0] < last:
            fed[0] += timedelta(days=1)
            shop.ok("POST", f"/v1/funds/{fund['id']}/income", manager.line(fed[0], FIGURES[(fed[0] - today).days % len(FIGURES)]))

    feed_until(today - timedelta(days=1))
    holders = [_holder(shop, 600 + n + int(approved_last4()) % 300) for n in (0, 1)]
    orders = [shop.ok("POST", f"/v1/customers/{customer['id']}/fund_subscriptions", {"fund": fund["id"], "amount": amount, "payment_method": card["id"]})
              for (customer, card), amount in zip(holders, (300_000, 200_000))]
    # The next trading day: units confirmed; the days up to it accrued; one holder redeems
    # CNY 500.00 the normal way (paid on a later trading day).
    confirmed_on = max(date.fromisoformat(order["confirmation_date"]) for order in orders)
    sdk.advance_clock(datetime.combine(confirmed_on, time(10, 0), BEIJING))
    feed_until(confirmed_on - timedelta(days=1))
    while sdk.sandbox_run_queue("fund")["done"]:
        pass
    (customer, card), _ = holders
    redemption = shop.ok("POST", f"/v1/customers/{customer['id']}/fund_redemptions", {"fund": fund["id"], "amount": 50_000, "speed": "normal", "card": card["id"]})
    assert redemption["status"] == "pending", redemption

    outstanding = shop.ok("GET", f"/v1/funds/{fund['id']}")["units_outstanding"]
    assert outstanding == 450_000  # 3,000.00 + 2,000.00 - 500.00: nothing earned before confirmation
    published = shop.ok("GET", f"/v1/funds/{fund['id']}/yields")["data"][-1]
    last_week = [Decimal(FIGURES[(fed[0] - timedelta(days=back) - today).days % len(FIGURES)]) for back in range(6, -1, -1)]
    expected_yield = str(seven_day_annualized(last_week, Carryover.DAILY))
    assert published["date"] == fed[0].isoformat() and published["seven_day_annualized"] == expected_yield

    # Another merchant's user: no funds of theirs, and ours by its id is missing.
    other_email = f"fund.other.{uuid.uuid4().hex[:8]}@example.com"
    create_user(site.gw, other_email, PASSWORD, Role.MERCHANT_VIEWER, site.other.id)
    site.users["fund_other_viewer"] = other_email
    sign_in(desktop, site, "fund_other_viewer")
    desktop.get_by_role("link", name="Fund", exact=True).click()
    expect(desktop.get_by_role("heading", name="Huoqibao money-market fund")).to_be_visible()
    expect(desktop.locator("#no-funds")).to_contain_text("No funds yet")
    expect(desktop.locator("#funds")).to_have_count(0)
    expect(desktop.get_by_text(code)).to_have_count(0)
    response = desktop.goto(f"{site.base_url}/dashboard/fund?fund={fund['id']}")
    assert response.status == 404
    desktop.context.clear_cookies()

    def check_row(operator: bool) -> None:
        row = desktop.locator(f"#fund-{fund['id']}")
        expect(row.locator(".fund-code")).to_have_text(code)
        expect(row.get_by_role("rowheader")).to_contain_text("Huoqibao Test")
        expect(row.locator(".fund-units")).to_have_text("CNY 4,500.00")
        expect(row.locator(".fund-holders")).to_have_text("2")
        expect(row.locator(".fund-accrued")).to_have_text((confirmed_on - timedelta(days=1)).isoformat())
        expect(row.locator(".fund-yield")).to_contain_text(f"{expected_yield}%")
        expect(row.locator(".fund-yield")).to_contain_text(f"to {fed[0].isoformat()}")
        expect(row.locator(".fund-waiting")).to_have_text("1")
        expect(row.locator(".fund-merchant")).to_have_count(1 if operator else 0)
        if operator:
            expect(row.locator(".fund-merchant")).to_have_text("Demo Phone Shop")

    # The merchant's viewer: the fund's row and its income chart (the newest fund's by default).
    sign_in(desktop, site, "merchant_viewer")
    desktop.get_by_role("link", name="Fund", exact=True).click()
    expect(desktop.get_by_role("link", name="Fund", exact=True)).to_have_attribute("aria-current", "page")
    check_row(operator=False)
    expect(desktop.get_by_role("columnheader", name="Merchant")).to_have_count(0)
    expect(desktop.get_by_role("heading", name=re.compile(f"Daily income per 10,000 units of {code}"))).to_be_visible()
    chart = desktop.get_by_role("img", name=re.compile(f"fund {code}"))
    expect(chart).to_be_visible()
    assert chart.evaluate("canvas => canvas.width > 0 && !!Chart.getChart(canvas)")
    desktop.get_by_text("The figures as a table").click()
    newest_day = desktop.locator("#income tbody tr").first
    expect(newest_day).to_have_text(re.compile(rf"{fed[0].isoformat()}\s*{FIGURES[(fed[0] - today).days % len(FIGURES)]}"))
    expect(desktop.locator("#income tbody tr")).to_have_count(30)
    assert unlabelled_inputs(desktop) == []
    desktop.context.clear_cookies()

    # The operator: every merchant's funds, with the merchant named.
    sign_in(desktop, site, "operator")
    desktop.goto(f"{site.base_url}/dashboard/fund?fund={fund['id']}")
    check_row(operator=True)
    expect(desktop.get_by_role("columnheader", name="Merchant")).to_be_visible()
    screenshots(desktop, "dashboard-fund")
