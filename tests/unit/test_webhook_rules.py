"""Webhook signatures (the merchant-side helper), the retry schedule and event payloads."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.webhooks import MAX_ATTEMPTS, RETRY_SCHEDULE, event_payload, is_success, listens, retry_delay
from gateway.sdk.webhooks import SignatureVerificationError, sign, signature_header, verify

SECRET = "whsec_test0123456789abcdefghijklmnopqrstuv"
BODY = b'{"id":"evt_1","type":"payment.succeeded"}'
T = 1_790_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET, T) == expected
    assert signature_header(BODY, SECRET, T) == f"t={T},v1={expected}"


def test_verify_accepts_a_genuine_signature_within_tolerance():
    header = signature_header(BODY, SECRET, T)
    assert verify(BODY, header, SECRET, now=T) == T
    assert verify(BODY, header, SECRET, now=T + 300) == T
    assert verify(BODY, header, SECRET, now=T - 300) == T
    assert verify(BODY, header, SECRET, tolerance_seconds=None, now=T + 10**6) == T


@pytest.mark.parametrize(
    "payload, header, secret, now, message",
    [
        (BODY + b" ", None, SECRET, T, "No signature matches"),
        (BODY, None, "whsec_other", T, "No signature matches"),
        (BODY, None, SECRET, T + 301, "outside the tolerance"),
        (BODY, None, SECRET, T - 301, "outside the tolerance"),
        (BODY, "", SECRET, T, "No Paygate-Signature header"),
        (BODY, f"v1={'0' * 64}", SECRET, T, "no t="),
        (BODY, f"t={T}", SECRET, T, "no v1="),
        (BODY, f"t=soon,v1={'0' * 64}", SECRET, T, "t is not a unix time"),
        (BODY, f"t={T + 1},v1=" + sign(BODY, SECRET, T), SECRET, T, "No signature matches"),
    ],
)
def test_verify_refuses_with_a_clear_reason(payload, header, secret, now, message):
    header = signature_header(BODY, SECRET, T) if header is None else header
    with pytest.raises(SignatureVerificationError, match=message):
        verify(payload, header, secret, now=now)


def test_verify_accepts_any_of_several_v1_signatures():
    header = f"t={T},v1={'0' * 64},v1={sign(BODY, SECRET, T)}"
    assert verify(BODY, header, SECRET, now=T) == T


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40), st.integers(min_value=0, max_value=2**40))
def test_sign_then_verify_round_trips(payload, secret, timestamp):
    assert verify(payload, signature_header(payload, secret, timestamp), secret, now=timestamp) == timestamp


def test_the_helper_needs_only_the_standard_library():
    import ast
    import sys
    from pathlib import Path

    import gateway.sdk.webhooks as helper

    tree = ast.parse(Path(helper.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_retry_schedule_grows_and_covers_at_least_a_day():
    assert list(RETRY_SCHEDULE) == sorted(RETRY_SCHEDULE)
    assert sum(RETRY_SCHEDULE, timedelta()) >= timedelta(hours=24)
    assert MAX_ATTEMPTS == len(RETRY_SCHEDULE) + 1
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[:-1] == list(RETRY_SCHEDULE) and delays[-1] is None
    assert delays[0] == timedelta(minutes=1)


def test_endpoint_filters():
    assert listens(["*"], "payment.succeeded")
    assert listens(["payment.succeeded", "refund.succeeded"], "refund.succeeded")
    assert not listens(["refund.succeeded"], "payment.succeeded")


def test_event_payload_is_stable_and_shaped_as_documented():
    created = datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)
    data = {"object": "payment", "id": "pay_1", "amount": 100, "metadata": {"b": "2", "a": "1"}}
    first = event_payload("evt_1", "payment.succeeded", created, data)
    again = event_payload("evt_1", "payment.succeeded", created.replace(tzinfo=None), dict(reversed(list(data.items()))))
    assert first == again
    assert json.loads(first) == {
        "id": "evt_1",
        "object": "event",
        "type": "payment.succeeded",
        "created": int(created.timestamp()),
        "data": {"object": data},
    }


def test_only_2xx_is_delivered():
    assert is_success(200) and is_success(204)
    assert not any(is_success(code) for code in (None, 199, 301, 400, 500))


@pytest.mark.parametrize(
    "host, private",
    [
        ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.10", True), ("169.254.169.254", True),
        ("::1", True), ("[::1]", True), ("::ffff:10.0.0.1", True), ("localhost", True), ("api.localhost", True),
        ("8.8.8.8", False), ("shop.example", False),
    ],
)
def test_internal_hosts_are_recognised(host, private):
    from gateway.adapters.webhook_http import literal_host_is_private

    assert literal_host_is_private(host) is private
