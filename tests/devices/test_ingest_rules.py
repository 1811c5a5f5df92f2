"""What ingest accepts and refuses, checked on the batch processor directly (SQLite and PostgreSQL)."""
from __future__ import annotations

import time

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from device_agents.keys import new_signing_key
from gateway.adapters.db.device_models import DeviceMessage, DeviceRejection
from gateway.services import device_confirmations, devices
from gateway.services.device_ingest import Incoming, Ingestor
from tests.devices.conftest import SignedDevice

HOUR_MS = 3600 * 1000


@pytest.fixture
def ingestor(any_gw) -> Ingestor:
    return Ingestor(any_gw)


@pytest.fixture
def phone(any_shop) -> SignedDevice:
    return SignedDevice(any_shop, "phone")


def stored_seqs(gw, device_id: str) -> list[int]:
    with gw.db.unit_of_work() as session:
        return sorted(session.scalars(select(DeviceMessage.seq).where(DeviceMessage.device_id == device_id)))


def rejection_reasons(gw, device_id: str) -> list[str]:
    with gw.db.unit_of_work() as session:
        return sorted(session.scalars(select(DeviceRejection.reason).where(DeviceRejection.device_id == device_id)))


def test_a_good_message_is_stored_with_its_filtered_body(any_gw, ingestor, phone, any_shop):
    result = ingestor.process([phone.message({"screen_seconds": 60, "region": "CN-SH", "latitude": 31})])
    assert result.stored == 1 and result.rejected == 0
    with any_gw.db.unit_of_work() as session:
        row = session.scalars(select(DeviceMessage).where(DeviceMessage.device_id == phone.id)).one()
    assert row.body == {"screen_seconds": 60, "region": "CN-SH"}  # no coordinates kept
    device = any_shop.get(f"/v1/devices/{phone.id}").json
    assert device["messages_stored"] == 1 and device["last_seq"] == 1 and device["last_seen"] is not None


def test_each_bad_message_is_rejected_counted_and_recorded(any_gw, ingestor, any_shop):
    phone, other = SignedDevice(any_shop, "phone"), SignedDevice(any_shop, "phone", "ES256")
    now_ms = int(time.time() * 1000)
    batch = [
        # on its own topic (the broker allowed it) but naming another device in the envelope
        phone.message(device_id=other.id, key=phone.signing_key),
        # signed by someone else's key
        phone.message(key=new_signing_key("EdDSA")),
        # a device the gateway never enrolled
        Incoming(f"devices/dev_{'z' * 24}/telemetry", phone.message().payload),
        # too old and too far ahead
        phone.message(ts_ms=now_ms - 8 * 24 * HOUR_MS),
        phone.message(ts_ms=now_ms + HOUR_MS),
        # not an envelope at all
        Incoming(f"devices/{phone.id}/telemetry", b"\xa1junk"),
        # confirmation payload on the telemetry topic
        phone.message(kind="confirmation", topic_device=phone.id),
    ]
    batch[-1] = Incoming(f"devices/{phone.id}/telemetry", batch[-1].payload)
    result = ingestor.process(batch)
    assert result.stored == 0
    assert dict(result.rejections) == {"device_mismatch": 1, "bad_signature": 1, "unknown_device": 1,
                                       "stale_timestamp": 1, "timestamp_in_future": 1, "malformed": 1, "bad_topic": 1}
    assert "unknown_device" in rejection_reasons(any_gw, f"dev_{'z' * 24}")
    assert any_shop.get(f"/v1/devices/{phone.id}").json["messages_rejected"] == 6


def test_replayed_sequence_and_qos1_redelivery_are_stored_once(any_gw, ingestor, phone):
    first, second = phone.message(), phone.message()
    assert ingestor.process([first, second, first]).stored == 2  # duplicate inside one batch
    replay = ingestor.process([second])  # a redelivery, or an attacker replaying it
    assert replay.stored == 0 and dict(replay.rejections) == {"duplicate_sequence": 1}
    # a fresh signature over a spent sequence number is refused too
    assert dict(ingestor.process([phone.message(seq=1)]).rejections) == {"duplicate_sequence": 1}
    assert stored_seqs(any_gw, phone.id) == [1, 2]


def test_a_revoked_device_is_refused_from_the_revocation_on(any_gw, ingestor, phone, any_shop):
    assert ingestor.process([phone.message()]).stored == 1
    assert any_shop.post(f"/v1/devices/{phone.id}/revoke").status_code == 200
    assert dict(ingestor.process([phone.message()]).rejections) == {"device_not_active": 1}


def test_usage_endpoint_aggregates_stored_telemetry_per_day(any_gw, ingestor, any_shop):
    meter = SignedDevice(any_shop, "iot")
    day_ms = int(time.time() // 86400 * 86400 * 1000)
    bodies = [{"energy_wh_total": 100, "run_seconds_total": 0, "health": "ok"},
              {"energy_wh_total": 130, "run_seconds_total": 600, "health": "ok"},
              {"energy_wh_total": 190, "run_seconds_total": 1200, "health": "fault"}]
    ingestor.process([meter.message(body, ts_ms=day_ms + i * 1000) for i, body in enumerate(bodies)])
    today = time.strftime("%Y-%m-%d", time.gmtime(day_ms / 1000))
    response = any_shop.get(f"/v1/devices/{meter.id}/usage?from={today}&to={today}")
    assert response.status_code == 200, response.json
    (day,) = response.json["data"]
    assert (day["date"], day["messages"], day["energy_wh"], day["run_seconds"], day["health_faults"]) == (today, 3, 90, 1200, 1)
    bad = any_shop.get(f"/v1/devices/{meter.id}/usage?from={today}&to=2000-01-01")
    assert bad.status_code == 400 and bad.json["error"]["param"] == "to"


def test_telemetry_body_is_dropped_but_sequence_spent_without_usage_consent(any_gw, ingestor, phone, monkeypatch):
    import gateway.services.device_ingest as ingest_module

    # Ingest asks the one consent rule, gateway.services.devices.may_store_usage (the single
    # function the customers issue replaces), so answering "no" for it is what happens here.
    assert ingest_module.may_store_usage is devices.may_store_usage
    monkeypatch.setattr(ingest_module, "may_store_usage", lambda session, device: False)
    assert ingestor.process([phone.message()]).stored == 1
    with any_gw.db.unit_of_work() as session:
        assert session.scalars(select(DeviceMessage.body).where(DeviceMessage.device_id == phone.id)).one() is None


# ---- confirmations at the message level --------------------------------------------------------

@pytest.fixture
def outcomes(any_gw, monkeypatch):
    recorded = []
    monkeypatch.setattr(any_gw, "confirmation_decided",
                        lambda payment_id, approved, reason: recorded.append((payment_id, approved, reason)))
    return recorded


def _answer(device: SignedDevice, nonce: str, payment_id: str, amount: int, decision: str = "approve", **changes):
    body = {"payment": payment_id, "nonce": nonce, "amount": amount, "currency": "CNY", "decision": decision, **changes}
    return device.message(body, kind="confirmation")


def test_confirmation_approve_and_decline_reach_the_payment_hook(any_gw, ingestor, phone, outcomes):
    approve = device_confirmations.request_confirmation(any_gw, "pay_a", phone.id, 5000, "CNY", "Shop")
    decline = device_confirmations.request_confirmation(any_gw, "pay_d", phone.id, 7000, "CNY", "Shop")
    result = ingestor.process([_answer(phone, approve, "pay_a", 5000), _answer(phone, decline, "pay_d", 7000, "decline")])
    assert result.stored == 2 and result.confirmations_decided == 2
    device_confirmations.deliver_outcomes(any_gw)
    assert sorted(outcomes) == [("pay_a", True, "approved"), ("pay_d", False, "declined")]
    device_confirmations.deliver_outcomes(any_gw)
    assert len(outcomes) == 2  # delivered once each
    again = ingestor.process([_answer(phone, approve, "pay_a", 5000)])  # new seq, same nonce
    assert dict(again.rejections) == {"confirmation_already_decided": 1}


def test_confirmation_that_does_not_match_decides_nothing(any_gw, ingestor, phone, any_shop, outcomes):
    nonce = device_confirmations.request_confirmation(any_gw, "pay_m", phone.id, 5000, "CNY", "Shop")
    stranger = SignedDevice(any_shop, "phone")
    result = ingestor.process([
        _answer(phone, nonce, "pay_m", 4999),  # other amount
        _answer(phone, nonce, "pay_other", 5000),  # other payment
        _answer(stranger, nonce, "pay_m", 5000),  # another device answering this device's request
        _answer(phone, "not-a-nonce", "pay_m", 5000),
    ])
    assert dict(result.rejections) == {"confirmation_mismatch": 3, "confirmation_unknown": 1}
    assert device_confirmations.get_confirmation(any_gw, nonce).state == "pending"
    assert ingestor.process([_answer(phone, nonce, "pay_m", 5000)]).confirmations_decided == 1


def test_confirmation_expires_unanswered_and_a_late_answer_is_refused(any_gw, ingestor, phone, outcomes):
    nonce = device_confirmations.request_confirmation(any_gw, "pay_x", phone.id, 5000, "CNY", "Shop", ttl_seconds=1)
    time.sleep(1.1)
    late = ingestor.process([_answer(phone, nonce, "pay_x", 5000)])
    assert dict(late.rejections) == {"confirmation_expired": 1}
    assert device_confirmations.expire_due(any_gw) >= 1
    device_confirmations.deliver_outcomes(any_gw)
    assert ("pay_x", False, "expired") in outcomes


def test_confirmation_request_is_queued_as_a_command_for_the_device(any_gw, phone):
    from device_agents import wire
    from gateway.adapters.db.device_models import DeviceCommand

    nonce = device_confirmations.request_confirmation(any_gw, "pay_c", phone.id, 1234, "CNY", "Corner Shop")
    with any_gw.db.unit_of_work() as session:
        payload = session.scalars(select(DeviceCommand.payload).where(DeviceCommand.device_id == phone.id)
                                  .order_by(DeviceCommand.id.desc())).first()
    kind, body = wire.decode_command(payload)
    assert kind == "confirmation_request"
    assert (body["payment"], body["amount"], body["currency"], body["merchant"], body["nonce"]) == (
        "pay_c", 1234, "CNY", "Corner Shop", nonce)
    assert body["expires"] > time.time() * 1000


# ---- fuzz: nothing a device sends stops ingest ---------------------------------------------------

def _mutations(valid: bytes):
    flips = st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=4)
    return st.one_of(
        st.binary(max_size=300),
        flips.map(lambda changes: bytes(_apply(valid, changes))),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        st.builds(lambda x: cbor2.dumps(cbor2.CBORTag(18, x)), st.lists(st.one_of(st.binary(max_size=20),
                                                                                     st.integers(), st.none()),
                                                                           max_size=5)),
    )


def _apply(data: bytes, changes) -> bytearray:
    out = bytearray(data)
    for index, value in changes:
        out[index] = value
    return out


def test_fuzzed_payloads_never_stop_ingest(any_gw, any_shop):
    ingestor = Ingestor(any_gw)
    phone = SignedDevice(any_shop, "phone")
    valid = phone.message().payload
    topics = st.sampled_from([f"devices/{phone.id}/telemetry", f"devices/{phone.id}/confirmations",
                              "devices/x/y/z", "", "devices/\udcff/telemetry"])

    stored_from_mutations = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(topics, _mutations(valid)), min_size=1, max_size=8))
    def run(batch):
        result = ingestor.process([Incoming(topic, payload) for topic, payload in batch])
        # Every message is accounted for: stored, or rejected with a reason; none vanishes.
        assert result.stored + result.rejected == len(batch), result
        stored_from_mutations.append(result.stored)

    run()
    # Whatever still verified is the one signed message (sequence 1): stored once, then duplicates.
    assert sum(stored_from_mutations) <= 1
    # and a good message after all that is still stored
    assert ingestor.process([phone.message()]).stored == 1
    with any_gw.db.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(DeviceRejection)) > 0
