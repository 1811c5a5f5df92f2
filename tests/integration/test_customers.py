"""Registration with the national ID, consents, erasure."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from gateway.adapters.db.models import Consent, Customer
from gateway.adapters.vault import VaultError
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.services.ledger import verify
from tests.integration.conftest import TEST_EPOCH, Shop
from tests.integration.test_idempotency import _concurrently

TODAY = TEST_EPOCH.date()


def _register(shop, number, **extra):
    body = {"name": "Zhao Lei", "mobile": "13912345678", "id_number": number, "identity_consent": {"version": "2026-01", "purpose": "real-name verification"}, **extra}
    return shop.post("/v1/customers", body)


def test_registration_returns_only_masked_id_and_mobile(shop):
    number = sandbox_id_number(date(1988, 8, 8))
    response = _register(shop, number)

    assert response.status_code == 200, response.json
    customer = response.json
    assert customer["id_number"] == number[0] + "*" * 16 + number[-1]
    assert customer["mobile"] == "139****5678"
    assert customer["name"] == "Z*******"
    assert number not in response.get_data(as_text=True)
    assert number not in shop.get(f"/v1/customers/{customer['id']}").get_data(as_text=True)


def test_id_number_is_stored_only_encrypted(shop):
    number = sandbox_id_number(date(1977, 7, 7))
    customer = _register(shop, number).json
    with shop.gw.db.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM customers WHERE id = :id"), {"id": customer["id"]}).mappings().one()
    assert number not in json.dumps({k: str(v) for k, v in row.items()})
    assert "13912345678" not in json.dumps({k: str(v) for k, v in row.items()})


def test_each_invalid_id_is_refused_with_its_reason_and_nothing_is_stored(shop):
    body = "11010519900230123"  # 30 February
    from stdnum.cn import ric

    cases = {
        sandbox_id_number(date(1990, 1, 1))[:-1] + ("0" if sandbox_id_number(date(1990, 1, 1))[-1] != "0" else "1"): "id_number_invalid_checksum",
        body + ric.calc_check_digit(body + "0"): "id_number_invalid_birth_date",
        sandbox_id_number(date(1990, 1, 1), region="990000"): "id_number_unknown_region",
        "1101051990": "id_number_invalid_length",
        sandbox_id_number(TODAY - timedelta(days=17 * 365)): "underage",
    }
    for number, code in cases.items():
        response = _register(shop, number)
        assert response.status_code == 400, number
        assert response.json["error"] == {**response.json["error"], "code": code, "param": "id_number"}
    with shop.gw.db.unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(Customer).where(Customer.merchant_id == shop.id)).scalar_one() == 0


def test_eighteenth_birthday_registers_the_day_before_does_not(shop):
    eighteen_today = TODAY.replace(year=TODAY.year - 18)
    assert _register(shop, sandbox_id_number(eighteen_today + timedelta(days=1))).json["error"]["code"] == "underage"
    assert _register(shop, sandbox_id_number(eighteen_today)).status_code == 200


def test_registration_needs_identity_consent_and_a_valid_mobile(shop):
    number = sandbox_id_number(date(1990, 1, 1))
    missing = shop.post("/v1/customers", {"name": "A", "mobile": "13912345678", "id_number": number})
    assert (missing.status_code, missing.json["error"]["param"]) == (400, "identity_consent")
    bad_mobile = _register(shop, number, mobile="12345")
    assert (bad_mobile.status_code, bad_mobile.json["error"]["param"]) == (400, "mobile")


def test_one_id_registers_once_per_merchant_but_at_each_merchant(shop, other_shop):
    number = sandbox_id_number(date(1985, 5, 5))
    assert _register(shop, number).status_code == 200
    again = _register(shop, number)
    assert (again.status_code, again.json["error"]["code"]) == (409, "customer_exists")
    assert _register(other_shop, number).status_code == 200


def test_concurrent_duplicate_registrations_make_one_customer(pg_gateway):
    shop = Shop(pg_gateway)
    number = sandbox_id_number(date(1979, 9, 9))
    responses = _concurrently(10, lambda: _register(shop, number))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    with pg_gateway.db.unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(Customer).where(Customer.merchant_id == shop.id)).scalar_one() == 1


def test_consents_are_recorded_listed_and_withdrawn(shop):
    customer = shop.register().json
    path = f"/v1/customers/{customer['id']}/consents"
    assert shop.post(path, {"kind": "device_usage", "version": "v1", "purpose": "credit limit from device usage"}).status_code == 200
    assert shop.post(path, {"kind": "bank_card", "version": "v1", "purpose": "cards"}).status_code == 200
    withdrawn = shop.post(f"{path}/device_usage/withdraw")

    assert withdrawn.status_code == 200 and withdrawn.json["active"] is False
    listed = {(c["kind"], c["active"]) for c in shop.get(path).json["data"]}
    assert listed == {("identity", True), ("device_usage", False), ("bank_card", True)}
    again = shop.post(f"{path}/device_usage/withdraw")
    assert (again.status_code, again.json["error"]["code"]) == (409, "consent_not_given")
    assert shop.post(path, {"kind": "marketing", "version": "v1", "purpose": "x"}).status_code == 400


def test_other_merchants_cannot_see_customers(shop, other_shop):
    customer = shop.register().json
    for method, path in (("GET", f"/v1/customers/{customer['id']}"), ("DELETE", f"/v1/customers/{customer['id']}"), ("GET", f"/v1/customers/{customer['id']}/consents")):
        assert other_shop.call(method, path).status_code == 404


def test_erasure_shreds_the_data_keeps_the_money_and_frees_the_id(shop):
    number = sandbox_id_number(date(1991, 1, 1))
    customer = _register(shop, number).json
    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "v1", "purpose": "cards"})
    card = shop.saved_card(customer["id"])
    payment = shop.pay_saved(card["id"], 20_000).json
    balance = shop.balance()
    with shop.gw.db.unit_of_work() as session:
        sealed = session.execute(select(Customer).where(Customer.id == customer["id"])).scalar_one()
        wrapped_key = sealed.data_key
        id_ciphertext = sealed.id_number_sealed
    assert wrapped_key is not None and id_ciphertext  # before erasure: a data key and the sealed ID

    erased = shop.call("DELETE", f"/v1/customers/{customer['id']}")

    assert erased.status_code == 200
    assert erased.json == {**erased.json, "state": "erased", "name": None, "id_number": None, "mobile": None}
    with shop.gw.db.unit_of_work() as session:
        row = session.execute(select(Customer).where(Customer.id == customer["id"])).scalar_one()
        assert row.data_key is None and row.id_number_sealed == id_ciphertext  # ciphertext kept, key gone
        consents = session.execute(select(func.count()).select_from(Consent).where(Consent.customer_id == customer["id"])).scalar_one()
        assert consents == 2  # the record that consent was given stays
    with pytest.raises(VaultError):  # a destroyed key must not open
        shop.gw.vault.data_key(customer["id"], None)
    with shop.gw.db.unit_of_work() as session:
        from gateway.services.customers import has_consent
        from gateway.domain.consent import ConsentKind

        assert not has_consent(session, customer["id"], ConsentKind.BANK_CARD)  # every consent ended
    # The money stays: the payment and the ledger are untouched and still add up.
    assert shop.get(f"/v1/payments/{payment['id']}").json["amount_received"] == 20_000
    assert shop.get(f"/v1/payments/{payment['id']}").json["customer"] == customer["id"]
    assert shop.balance() == balance
    assert verify(shop.gw).ok
    # The saved card is dead, and the ID can register again as a new customer.
    assert shop.get(f"/v1/customers/{customer['id']}/cards").json["data"][0]["status"] == "disabled"
    assert shop.pay_saved(card["id"]).status_code == 409
    again = _register(shop, number)
    assert again.status_code == 200 and again.json["id"] != customer["id"]


def test_a_customer_with_an_open_installment_plan_cannot_be_erased(shop):
    from tests.integration.test_installments import _plan, _product

    plan, customer = _plan(shop, _product(shop), term=3)
    refused = shop.call("DELETE", f"/v1/customers/{customer['id']}")
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "customer_has_open_plans")
    assert shop.get(f"/v1/customers/{customer['id']}").json["state"] == "active"
