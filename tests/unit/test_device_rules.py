"""Device rules: freshness window, confirmation judgement, telemetry filtering, daily usage, backoff."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

from device_agents.agent import Backoff
from gateway.domain.devices import (
    ConfirmationAnswer,
    ConfirmationRequest,
    ConfirmationState,
    DeviceKind,
    FreshnessWindow,
    Reading,
    Rejection,
    daily_usage,
    judge_confirmation,
    validate_telemetry,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
DEVICE = "dev_" + "a" * 24


def test_freshness_window_refuses_future_and_stale_messages():
    window = FreshnessWindow(skew=timedelta(minutes=5), max_age=timedelta(days=7))
    assert window.check(NOW, NOW) is None
    assert window.check(NOW + timedelta(minutes=4), NOW) is None
    assert window.check(NOW - timedelta(days=6), NOW) is None  # buffered through an outage: fine
    assert window.check(NOW + timedelta(minutes=6), NOW) is Rejection.TIMESTAMP_IN_FUTURE
    assert window.check(NOW - timedelta(days=8), NOW) is Rejection.STALE_TIMESTAMP


def _request(**changes) -> ConfirmationRequest:
    values = dict(nonce="n1", payment_id="pay_1", device_id=DEVICE, amount=5000, currency="CNY",
                  expires_at=NOW + timedelta(minutes=2), state=ConfirmationState.PENDING)
    return ConfirmationRequest(**{**values, **changes})


def _answer(**changes) -> ConfirmationAnswer:
    values = dict(nonce="n1", payment_id="pay_1", device_id=DEVICE, amount=5000, currency="CNY", approved=True)
    return ConfirmationAnswer(**{**values, **changes})


def test_confirmation_counts_only_for_the_exact_payment_amount_and_device():
    assert judge_confirmation(_request(), _answer(), NOW) is None
    assert judge_confirmation(_request(), _answer(approved=False), NOW) is None
    for change in ({"amount": 5001}, {"currency": "USD"}, {"payment_id": "pay_2"}, {"device_id": "dev_" + "b" * 24}):
        assert judge_confirmation(_request(), _answer(**change), NOW) is Rejection.CONFIRMATION_MISMATCH
    assert judge_confirmation(_request(), _answer(), NOW + timedelta(minutes=3)) is Rejection.CONFIRMATION_EXPIRED
    decided = _request(state=ConfirmationState.APPROVED)
    assert judge_confirmation(decided, _answer(), NOW) is Rejection.CONFIRMATION_DECIDED


def test_phone_telemetry_keeps_known_integers_and_a_coarse_region_only():
    body = {"screen_seconds": 60, "battery_pct": 80, "region": "CN-SH", "latitude": 31.2304, "lon": 121,
            "app_sessions": True, "data_bytes": -5, "imei": "356938035643809"}
    assert validate_telemetry(DeviceKind.PHONE, body) == {"screen_seconds": 60, "battery_pct": 80, "region": "CN-SH"}
    assert "region" not in validate_telemetry(DeviceKind.PHONE, {"region": "31.2304,121.4737"})


def test_iot_telemetry_keeps_counters_and_health():
    body = {"run_seconds_total": 10, "energy_wh_total": 5, "distance_m_total": 7, "health": "ok", "gps": [1, 2]}
    assert validate_telemetry(DeviceKind.IOT, body) == {"run_seconds_total": 10, "energy_wh_total": 5,
                                                        "distance_m_total": 7, "health": "ok"}


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=timezone.utc)


def test_daily_usage_sums_phone_intervals_per_utc_day():
    readings = [Reading(_at(26, 23), {"screen_seconds": 100, "app_sessions": 1, "data_bytes": 10, "battery_pct": 50,
                                      "region": "CN-SH"}),
                Reading(_at(27, 1), {"screen_seconds": 30, "battery_pct": 40}),
                Reading(_at(27, 2), {"screen_seconds": 20, "battery_pct": 45, "region": "CN-BJ"})]
    days = daily_usage(DeviceKind.PHONE, readings)
    assert [d["date"] for d in days] == [date(2026, 11, 26), date(2026, 11, 27)]
    assert days[1]["screen_seconds"] == 50 and days[1]["messages"] == 2 and days[1]["battery_pct_min"] == 40
    assert days[1]["regions"] == ["CN-BJ"]


def test_daily_usage_of_iot_counters_is_how_far_they_moved_ignoring_resets():
    readings = [Reading(_at(27, h), {"energy_wh_total": wh, "health": health})
                for h, wh, health in ((1, 100, "ok"), (2, 150, "fault"), (3, 10, "ok"), (4, 30, "ok"))]
    (day,) = daily_usage(DeviceKind.IOT, readings)
    assert day["energy_wh"] == 50 + 20  # the drop from 150 to 10 is a counter reset, not negative use
    assert day["health_faults"] == 1 and day["health_last"] == "ok"


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap():
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= min(8.0, 0.5 * 2 ** attempt)
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next_delay() <= 0.5
