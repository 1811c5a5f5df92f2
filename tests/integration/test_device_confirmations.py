"""Payments that wait for the buyer's device to approve them (the MQTT round trip itself is
tested in tests/devices; here: what the payment does with the device's answer)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from device_agents import wire
from gateway.adapters.db.device_models import DeviceCommand, DeviceConfirmation
from gateway.services import device_confirmations
from tests.support.devices import enrolled_device


def _pay_with_confirmation(shop, device_id, amount=2_000):
    body = {"amount": amount, "currency": "CNY", "payment_method": shop.token(), "confirm": True, "confirmation": {"device": device_id}}
    response = shop.post("/v1/payments", body)
    assert response.status_code == 200, response.json
    return response.json


def _request_sent(shop, device_id) -> dict:
    with shop.gw.db.unit_of_work() as session:
        command = session.execute(select(DeviceCommand).where(DeviceCommand.device_id == device_id).order_by(DeviceCommand.id.desc())).scalars().first()
    kind, body = wire.decode_command(command.payload)
    assert kind == wire.CONFIRMATION_REQUEST
    return body


def test_payment_waits_for_the_device_then_goes_to_the_bank_when_approved(shop):
    device_id = enrolled_device(shop)
    payment = _pay_with_confirmation(shop, device_id)
    assert payment["status"] == "requires_action"
    assert payment["next_action"]["type"] == "device_confirmation" and payment["next_action"]["device"] == device_id
    request = _request_sent(shop, device_id)
    assert (request["payment"], request["amount"], request["merchant"]) == (payment["id"], 2_000, "Test Shop")
    assert shop.balance() == 0

    shop.gw.confirmation_decided(payment["id"], True, "approved")
    shop.gw.confirmation_decided(payment["id"], True, "approved")  # delivered twice

    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "succeeded"
    assert shop.balance() == 2_000 - 12


def test_declined_or_expired_on_the_device_fails_the_payment(shop):
    device_id = enrolled_device(shop)
    declined = _pay_with_confirmation(shop, device_id)
    shop.gw.confirmation_decided(declined["id"], False, "declined")
    assert shop.get(f"/v1/payments/{declined['id']}").json["failure_code"] == "device_declined"

    expiring = _pay_with_confirmation(shop, device_id)
    real_clock = shop.gw.clock
    shop.gw.clock = lambda: real_clock() + timedelta(minutes=5)
    try:
        device_confirmations.expire_due(shop.gw)
        device_confirmations.deliver_outcomes(shop.gw)
    finally:
        shop.gw.clock = real_clock
    seen = shop.get(f"/v1/payments/{expiring['id']}").json
    assert (seen["status"], seen["failure_code"]) == ("failed", "confirmation_expired")
    assert shop.balance() == 0
    with shop.gw.db.unit_of_work() as session:
        states = {row.payment_id: row.state for row in session.execute(select(DeviceConfirmation).where(DeviceConfirmation.device_id == device_id)).scalars()}
    assert states[expiring["id"]] == "expired"
    assert shop.get(f"/v1/payments/{declined['id']}").json["failure_code"] == "device_declined"  # a late expiry changes nothing


def test_another_merchants_device_cannot_confirm(shop, other_shop):
    theirs = enrolled_device(other_shop)
    body = {"amount": 100, "currency": "CNY", "payment_method": shop.token(), "confirm": True, "confirmation": {"device": theirs}}
    response = shop.post("/v1/payments", body)
    assert (response.status_code, response.json["error"]["param"]) == (404, "confirmation.device")


def test_usage_of_a_sold_device_is_kept_only_with_device_usage_consent(shop):
    from gateway.adapters.db.device_models import Device
    from gateway.services.devices import may_store_usage

    device_id = enrolled_device(shop)
    customer = shop.customer()
    with shop.gw.db.unit_of_work() as session:
        device = session.get(Device, device_id)
        assert may_store_usage(session, device)  # nobody's device yet: no personal data
        device.owner_customer_id = customer["id"]
    with shop.gw.db.unit_of_work() as session:
        assert not may_store_usage(session, session.get(Device, device_id))
    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "device_usage", "version": "v1", "purpose": "credit limit from device usage"})
    with shop.gw.db.unit_of_work() as session:
        assert may_store_usage(session, session.get(Device, device_id))
    shop.post(f"/v1/customers/{customer['id']}/consents/device_usage/withdraw")
    with shop.gw.db.unit_of_work() as session:
        assert not may_store_usage(session, session.get(Device, device_id))


def test_the_worker_queue_expires_and_delivers_confirmations(shop):
    from gateway.entrypoints.workers import load

    device_id = enrolled_device(shop)
    payment = _pay_with_confirmation(shop, device_id)
    real_clock = shop.gw.clock
    shop.gw.clock = lambda: real_clock() + timedelta(minutes=5)
    try:
        assert load("confirmations")(shop.gw) == 2  # one expired, one outcome delivered
    finally:
        shop.gw.clock = real_clock
    assert shop.get(f"/v1/payments/{payment['id']}").json["failure_code"] == "confirmation_expired"
