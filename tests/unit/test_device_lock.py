"""The device's OpenPAYGO lock, offline: it locks on the right day, unlocks by a keypad token,
refuses a reused or older token, and always allows emergency calls."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from device_agents.payg import EMERGENCY, BEIJING, PaygLock
from gateway.adapters import payg_tokens


class Clock:
    def __init__(self, day: date):
        self.now = datetime(day.year, day.month, day.day, 10, tzinfo=BEIJING).astimezone(timezone.utc)

    def __call__(self):
        return self.now

    def days(self, n: int):
        self.now += timedelta(days=n)


def _device(tmp_path, start=date(2026, 12, 1)):
    secret, starting_code = payg_tokens.new_secret()
    clock = Clock(start)
    lock = PaygLock.provision(tmp_path / "payg.json", secret, starting_code, clock=clock)
    return lock, clock, secret, starting_code


class Issuer:
    """The gateway's side, counting tokens as device_credit does."""

    def __init__(self, secret, starting_code):
        self.secret, self.starting_code, self.count = secret, starting_code, 0

    def __call__(self, kind="add_time", days=0):
        self.count, token = payg_tokens.generate(self.secret, self.starting_code, self.count, kind, days)
        return token


def test_locked_until_paid_and_emergency_calls_always_work(tmp_path):
    lock, clock, *_ = _device(tmp_path)
    assert lock.locked()
    assert lock.allows(EMERGENCY) and not lock.allows("open_app")


def test_locks_on_the_right_day_offline_and_a_keypad_token_unlocks(tmp_path):
    lock, clock, secret, code = _device(tmp_path)
    issue = Issuer(secret, code)
    assert lock.enter(issue(days=35)).accepted  # paid through 4 January
    clock.days(34)
    assert not lock.locked()  # 4 January: the last paid day
    clock.days(1)
    assert lock.locked() and lock.allows(EMERGENCY)  # 5 January, no network needed
    restarted = PaygLock(tmp_path / "payg.json", clock=clock)  # state survives a reboot
    assert restarted.locked()
    token = issue(days=31)
    typed = " ".join(token[i:i + 3] for i in (0, 3, 6))  # keypad entry with spaces
    result = restarted.enter(typed)
    assert (result.accepted, result.days) == (True, 31)
    assert not restarted.locked()
    assert restarted.credit_end == clock().astimezone(BEIJING).date() + timedelta(days=31)


def test_a_reused_token_is_refused_and_gives_no_time(tmp_path):
    lock, clock, secret, code = _device(tmp_path)
    issue = Issuer(secret, code)
    token = issue(days=10)
    assert lock.enter(token).accepted
    end = lock.credit_end
    again = lock.enter(token)
    assert (again.accepted, again.reason) == (False, "already_used")
    assert lock.credit_end == end


def test_tokens_arriving_out_of_order_each_count_once(tmp_path):
    lock, clock, secret, code = _device(tmp_path)
    issue = Issuer(secret, code)
    first, second = issue(days=5), issue(days=7)
    assert lock.enter(second).accepted
    assert lock.enter(first).accepted  # an older unused ADD_TIME still counts
    assert lock.credit_end == clock().astimezone(BEIJING).date() + timedelta(days=12)
    assert not lock.enter(first).accepted


def test_another_devices_token_and_garbage_are_invalid(tmp_path):
    lock, _, secret, code = _device(tmp_path)
    other_secret, other_code = payg_tokens.new_secret()
    foreign = Issuer(other_secret, other_code)(days=30)
    assert lock.enter(foreign).reason == "invalid"
    assert lock.enter("12ab").reason == "invalid"
    assert lock.locked()


def test_disable_payg_unlocks_for_good_and_counter_sync_realigns(tmp_path):
    lock, clock, secret, code = _device(tmp_path)
    issue = Issuer(secret, code)
    for _ in range(5):
        issue(days=1)  # tokens the device never received
    assert lock.enter(issue("counter_sync")).reason == "counter_sync"
    assert lock.enter(issue(days=3)).accepted
    assert lock.enter(issue("disable_payg")).reason == "disable_payg"
    clock.days(400)
    assert not lock.locked()
