"""Operators and merchant users on the dashboard, in a desktop browser."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, unlabelled_inputs

pytestmark = pytest.mark.browser


def test_a_merchant_viewer_cannot_refund_nor_see_another_merchants_payment(site, desktop, screenshots):
    own = site.merchant.card_payment(129900, "earbuds")
    foreign = site.other.card_payment(88800, "another shop's sale")
    sign_in(desktop, site, "merchant_viewer")
    desktop.goto(f"{site.base_url}/dashboard/payments/{own['id']}")
    expect(desktop.get_by_role("heading", name=f"Payment {own['id']}")).to_be_visible()
    expect(desktop.locator("#read-only")).to_have_text("Your role can read payments but not refund them.")
    expect(desktop.get_by_role("button", name=re.compile("Refund"))).to_have_count(0)
    screenshots(desktop, "dashboard-payment-viewer")
    # Posting the refund form anyway (with a valid CSRF token) is refused.
    csrf = desktop.locator("input[name=csrf_token]").first.input_value()
    answer = desktop.request.post(f"{site.base_url}/dashboard/payments/{own['id']}/refund",
                                  form={"csrf_token": csrf, "amount": "1.00", "confirm": "yes", "request_key": "viewer-try"})
    assert answer.status == 403
    assert site.merchant.ok("GET", f"/v1/payments/{own['id']}")["amount_refunded"] == 0
    # Another merchant's payment, by its URL: not found (not even "forbidden").
    response = desktop.goto(f"{site.base_url}/dashboard/payments/{foreign['id']}")
    assert response.status == 404
    expect(desktop.get_by_role("heading", name="Not found")).to_be_visible()
    screenshots(desktop, "dashboard-other-merchant-not-found")
    desktop.goto(f"{site.base_url}/dashboard/payments?q={foreign['id']}")
    expect(desktop.locator("#payments")).to_contain_text("No payments found.")


def test_an_operator_refunds_part_of_a_payment_and_sees_the_ledger_postings(site, desktop, screenshots):
    payment = site.merchant.card_payment(399900, "phone, refunded in part")
    sign_in(desktop, site, "operator")
    expect(desktop.get_by_role("heading", name=re.compile("^Today"))).to_be_visible()
    screenshots(desktop, "dashboard-home")
    desktop.get_by_role("link", name="Payments", exact=True).click()
    desktop.get_by_label(re.compile("^Search")).fill("refunded in part")
    desktop.get_by_role("button", name="Search").click()
    desktop.get_by_role("link", name=payment["id"]).click()
    assert unlabelled_inputs(desktop) == []
    desktop.get_by_label(re.compile("Amount to refund")).fill("500.00")
    desktop.get_by_role("button", name="Refund…").click()
    expect(desktop.get_by_role("heading", name="Refund CNY 500.00?")).to_be_visible()
    screenshots(desktop, "dashboard-refund-confirm")
    desktop.get_by_role("button", name="Yes, refund CNY 500.00").dblclick()  # sent twice, refunded once
    expect(desktop.get_by_role("status").filter(has_text="Refund re_")).to_contain_text("succeeded")
    expect(desktop.locator("#refunded")).to_have_text("CNY 500.00")
    ledger = desktop.locator("table.ledger")
    expect(ledger).to_have_count(2)  # the capture, then the refund
    expect(ledger.nth(1).locator("caption")).to_contain_text("refund")
    expect(ledger.nth(1)).to_contain_text("CNY 500.00")
    expect(desktop.locator("#timeline")).to_contain_text("refund.succeeded")
    screenshots(desktop, "dashboard-payment")
    assert site.merchant.ok("GET", f"/v1/payments/{payment['id']}")["amount_refunded"] == 50000


def test_an_operator_sees_the_device_fleet_and_an_installment_plan(site, desktop, screenshots):
    from gateway.demo.devices import show_devices

    # The demo's device part: a phone and a meter enroll, send signed telemetry (a forged and a
    # replayed message among it) and a phone approves a payment.
    assert show_devices(site.gw, site.base_url, site.merchant.keys.secret_key, out=lambda line: None)
    plan = site.merchant.installment_plan(months=6)
    sign_in(desktop, site, "operator")
    desktop.get_by_role("link", name="Devices", exact=True).click()
    devices = desktop.locator("#devices tbody tr")
    expect(devices.first).to_be_visible()
    assert devices.count() >= 2
    expect(desktop.get_by_role("heading", name="Rejected messages by reason")).to_be_visible()
    screenshots(desktop, "dashboard-devices")
    devices.first.get_by_role("link").click()
    expect(desktop.get_by_role("heading", name="Telemetry, last 30 days")).to_be_visible()
    expect(desktop.locator("#lock-state")).to_have_text(re.compile("locked|unlocked|not on a plan"))
    screenshots(desktop, "dashboard-device")
    desktop.goto(f"{site.base_url}/dashboard/plans/{plan['id']}")
    expect(desktop.get_by_role("heading", name="Schedule")).to_be_visible()
    expect(desktop.locator("table").last.locator("tbody tr")).to_have_count(6)
    screenshots(desktop, "dashboard-plan")
