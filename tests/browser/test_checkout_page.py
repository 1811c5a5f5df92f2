"""A shopper on their phone (390 x 844) pays on the hosted checkout page."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number
from tests.browser.conftest import unlabelled_inputs
from tests.integration.conftest import TimeMachine, approved_last4

pytestmark = pytest.mark.browser


def fill_card(page, last4: str, bank: str = "ICBC") -> None:
    form = page.locator("#card-form")
    form.get_by_label("Card number").fill(sandbox_card_number(bank, last4))
    form.get_by_label("Name on the card").fill("Li Lei")
    form.get_by_label("Month (MM)").fill("12")
    form.get_by_label("Year (YYYY)").fill("2031")
    form.get_by_label("Security code (CVV, 3 digits on the back)").fill("123")


def thanks_url(site, session_id: str) -> str:
    return f"{site.shop_url}/thanks?session={session_id}"


def test_a_shopper_pays_by_card(site, phone, screenshots):
    session = site.session()
    phone.goto(session["url"])
    expect(phone.get_by_role("heading", name="Your order")).to_be_visible()
    expect(phone.locator("#total")).to_have_text("CNY 3,999.00")
    assert unlabelled_inputs(phone) == []  # card, wallet and installment forms alike
    fill_card(phone, approved_last4())
    screenshots(phone, "checkout-card")
    phone.get_by_role("button", name="Pay CNY 3,999.00").click()
    phone.wait_for_url(thanks_url(site, session["id"]))
    screenshots(phone, "checkout-card-returned-to-shop")
    paid = site.merchant.ok("GET", f"/v1/checkout/sessions/{session['id']}")
    assert paid["status"] == "complete"
    payment = site.merchant.ok("GET", f"/v1/payments/{paid['payment']}")
    assert (payment["status"], payment["amount_received"]) == ("succeeded", 399900)


def test_a_shopper_pays_by_wallet_and_the_app_confirms(site, phone, screenshots):
    session = site.session()
    phone.goto(session["url"])
    phone.get_by_text("Wallet (scan a QR code)").click()
    phone.get_by_label("Alipay-like wallet").check()
    phone.get_by_role("button", name="Show the QR code").click()
    expect(phone.get_by_role("heading", name="Scan to pay with your wallet")).to_be_visible()
    expect(phone.locator(".qr svg")).to_be_visible()
    screenshots(phone, "checkout-wallet-qr")
    order = site.merchant.ok("GET", f"/v1/checkout/sessions/{session['id']}")["payment"]
    # The sandbox wallet app confirms; the page, polling, moves on by itself.
    site.merchant.ok("POST", f"/v1/sandbox/wallets/payments/{order}/confirm", {"approve": True})
    phone.wait_for_url(thanks_url(site, session["id"]))
    assert site.merchant.ok("GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "complete"
    assert site.merchant.ok("GET", f"/v1/payments/{order}")["status"] == "succeeded"


def test_a_shopper_pays_on_12_installments_seeing_each_schedule_first(site, phone, screenshots):
    session = site.session()
    phone.goto(session["url"])
    phone.get_by_text("Installments", exact=True).click()
    for months in (3, 6, 12):  # every term's full schedule, before agreeing to any
        schedule = phone.get_by_role("table", name=f"Schedule for {months} months")
        expect(schedule.locator("tbody tr")).to_have_count(months)
    screenshots(phone, "checkout-installments")
    phone.get_by_label(re.compile(r"^12 months")).check()
    phone.get_by_label("Full name (as on your ID card)").fill("Wang Fang")
    phone.get_by_label("Mobile number").fill("13800138000")
    phone.get_by_label("National ID number (18 characters)").fill(sandbox_id_number(date(1992, 6, 18), order=int(approved_last4()) % 998 + 1))
    phone.get_by_label("Debit card number (UnionPay)").fill(sandbox_card_number("ICBC", approved_last4()))
    phone.locator("#inst-exp-month").fill("12")
    phone.locator("#inst-exp-year").fill("2031")
    phone.get_by_label("Security code (CVV)").fill("123")
    for box in ("I have read the schedule", "verifies and keeps my national ID", "saved and charged"):
        phone.get_by_label(re.compile(box)).check()
    phone.get_by_role("button", name="Continue: get a code from my bank").click()
    code = phone.locator("#sandbox-code strong").inner_text()
    phone.get_by_label("Code from the text message").fill(code)
    screenshots(phone, "checkout-installments-code")
    phone.get_by_role("button", name="Confirm and start the plan").click()
    phone.wait_for_url(thanks_url(site, session["id"]))
    paid = site.merchant.ok("GET", f"/v1/checkout/sessions/{session['id']}")
    plan = site.merchant.ok("GET", f"/v1/installment_plans/{paid['installment_plan']}")
    assert (paid["status"], plan["state"], plan["term_months"], len(plan["schedule"])) == ("complete", "active", 12, 12)


def test_a_declined_card_shows_its_reason_and_a_retry_works(site, phone, screenshots):
    session = site.session()
    phone.goto(session["url"])
    fill_card(phone, "0002")  # the sandbox declines it: insufficient funds
    phone.get_by_role("button", name="Pay CNY 3,999.00").click()
    error = phone.locator("#card-number-error")
    expect(error).to_contain_text("not enough money in the account")
    expect(phone.locator("#card-number")).to_have_attribute("aria-invalid", "true")
    screenshots(phone, "checkout-card-declined")
    fill_card(phone, approved_last4())
    phone.get_by_role("button", name="Pay CNY 3,999.00").click()
    phone.wait_for_url(thanks_url(site, session["id"]))
    statuses = sorted(p["status"] for p in site.merchant.payments_of(session["id"]))
    assert statuses == ["failed", "succeeded"]


def test_a_wrong_card_number_is_explained_next_to_the_field(site, phone):
    phone.goto(site.session()["url"])
    fill_card(phone, approved_last4())
    phone.locator("#card-form").get_by_label("Card number").fill("6222 0000 0000 0001")  # fails the Luhn check
    phone.get_by_role("button", name="Pay CNY 3,999.00").click()
    expect(phone.locator("#card-number-error")).to_have_text("This card number is not valid. Check the digits.")
    phone.locator("#card-form").get_by_label("Month (MM)").fill("13")
    phone.get_by_role("button", name="Pay CNY 3,999.00").click()
    expect(phone.locator("#card-expiry-error")).to_contain_text("1 to 12")


def test_a_double_click_pays_once_and_a_reload_does_not_pay_again(site, phone, screenshots):
    session = site.session()
    phone.goto(session["url"])
    fill_card(phone, approved_last4())
    phone.get_by_role("button", name="Pay CNY 3,999.00").dblclick()
    phone.wait_for_url(thanks_url(site, session["id"]))
    phone.go_back()  # the shopper goes back to the page and reloads it
    phone.reload()
    expect(phone.get_by_role("heading", name="Paid — thank you")).to_be_visible()
    screenshots(phone, "checkout-already-paid")
    payments = site.merchant.payments_of(session["id"])
    assert [(p["status"], p["amount"]) for p in payments] == [("succeeded", 399900)]


def test_an_expired_session_says_so(site, phone, screenshots):
    session = site.session(expires_in=60)
    machine = TimeMachine(site.gw)
    try:
        machine.travel(timedelta(minutes=2))
        phone.goto(session["url"])
        expect(phone.get_by_role("heading", name="This checkout has expired")).to_be_visible()
        expect(phone.get_by_text("Nothing was charged.")).to_be_visible()
        expect(phone.get_by_role("button", name=re.compile("Pay"))).to_have_count(0)
        screenshots(phone, "checkout-expired")
        assert site.merchant.ok("GET", f"/v1/checkout/sessions/{session['id']}")["status"] == "expired"
        phone.get_by_role("link", name="Return to Demo Phone Shop").click()
        phone.wait_for_url(f"{site.shop_url}/cancel")
    finally:
        machine.restore()
