"""A phone sold on 12 installments, lived through on the sandbox clock: a missed payment (the phone
locks, even offline), a recovery (a token typed on its keypad unlocks it)."""
from __future__ import annotations

import secrets
from datetime import date, datetime, time, timedelta
from pathlib import Path

from device_agents.enroll import enroll, http_enroller
from device_agents.payg import EMERGENCY, PAYG_FILE, PaygLock
from gateway.bootstrap import Gateway
from gateway.domain.clock import BEIJING
from gateway.domain.money import format_cny as yuan
from gateway.entrypoints.workers.runner import run
from gateway.sdk.client import Paygate

PRODUCT = {"terms": [3, 6, 12], "method": "equal_installment", "apr": "12", "down_payment_share": "0.1",
           "grace_days": 5, "late_fee_fixed": 2000, "late_fee_cap": 5000}
CARD_CONSENT = ("bank_card", "2026-01", "bind and charge debit cards")


def phone_on_installments(shop: Paygate, gw: Gateway, base_url: str, secret_key: str, customer: dict, card: dict) -> None:
    print("\ninstallments: a phone on 12 months")
    device_id, lock = demo_phone(shop, base_url, secret_key, Path(gw.settings.var_dir))
    plan = _sell(shop, customer, card, device_id)
    keypad = Keypad(shop, plan["id"], lock)
    keypad.type_new_tokens()
    due = plan["schedule"]

    def day(number: int, offset: int) -> date:
        return date.fromisoformat(due[number - 1]["due_date"]) + timedelta(days=offset)

    _live_through(shop, gw, day(1, 0))
    keypad.type_new_tokens()
    print(f"  {_today(shop)}: installment 1 debited; phone {'locked' if lock.locked() else 'unlocked'}")
    shop.withdraw_consent(customer["id"], "bank_card")
    print("  the shopper withdraws card consent: installment 2 cannot be debited")
    for offset in (0, 1, 3, 5, 6):  # due date, the grace period, then late
        _live_through(shop, gw, day(2, offset))
    seen = shop.retrieve_installment_plan(plan["id"])
    print(f"  {_today(shop)}: plan {seen['delinquency']}, overdue {yuan(seen['overdue'])} incl. a late fee of {yuan(seen['schedule'][1]['late_fee'])}; "
          f"phone {'LOCKED (emergency calls still allowed)' if lock.locked() and lock.allows(EMERGENCY) else 'unlocked'}")
    shop.grant_consent(customer["id"], *CARD_CONSENT)
    _live_through(shop, gw, day(2, 12))
    keypad.type_new_tokens()
    seen = shop.retrieve_installment_plan(plan["id"])
    print(f"  {_today(shop)}: consent given again, the weekly retry collects it; plan {seen['delinquency']}; phone {'locked' if lock.locked() else 'unlocked'}")
    _show_plan(seen)


def _sell(shop: Paygate, customer: dict, card: dict, device_id: str) -> dict:
    product = shop.create_installment_product("Phone 12 months", **PRODUCT)
    quote = shop.create_installment_quote(399900, 12, product["id"])
    print(f"  quote: down {yuan(quote['down_payment'])}, 12 x {yuan(quote['schedule'][0]['total'])}, cost of credit {yuan(quote['cost_of_credit'])}, APR {quote['apr']} %")
    plan = shop.create_installment_plan(customer["id"], card["id"], product["id"], 12, 399900, device=device_id)
    print(f"  plan {plan['id']}: {plan['state']}; the merchant is paid in full now; financed {yuan(plan['financed'])}")
    return plan


def _live_through(shop: Paygate, gw: Gateway, day: date) -> None:
    """The sandbox clock to 10:00 Beijing time that day, then a pass of the installments worker."""
    shop.advance_clock(datetime.combine(day, time(10, 0), BEIJING))
    run(gw, ["installments"], once=True)


def _today(shop: Paygate) -> date:
    return shop.sandbox_now().astimezone(BEIJING).date()


def _show_plan(plan: dict) -> None:
    print(f"  plan {plan['id']}: {plan['state']}, paid {yuan(plan['paid'])}, outstanding {yuan(plan['outstanding'])}")
    for item in plan["schedule"][:4]:
        print(f"    #{item['number']:<2} due {item['due_date']}  {yuan(item['principal'] + item['interest']):>12}  late fee {yuan(item['late_fee']):>10}  {item['status']}")
    print(f"    ... {len(plan['schedule']) - 4} more")


class Keypad:
    """The phone is offline: the shopper types each new unlock token in."""

    def __init__(self, shop: Paygate, plan_id: str, lock: PaygLock) -> None:
        self.shop, self.plan_id, self.lock = shop, plan_id, lock
        self.seen = 0

    def type_new_tokens(self) -> None:
        tokens = self.shop.retrieve_installment_plan(self.plan_id)["device_tokens"]
        for token in tokens[self.seen:]:
            result = self.lock.enter(token["token"])
            print(f"    token {token['token']} ({token['kind']}, {token['days']} days) typed on the keypad: {'accepted' if result.accepted else result.reason}")
        self.seen = len(tokens)


def demo_phone(shop: Paygate, base_url: str, secret_key: str, var_dir: Path) -> tuple[str, PaygLock]:
    """A phone enrolled over the API (its keys and OpenPAYGO credentials kept on the phone, under
    var/), its on-device lock reading the sandbox clock as its calendar."""
    home = var_dir / "demo-phone" / secrets.token_hex(4)
    device_id = enroll(home, "phone", "Demo Phone 12", http_enroller(base_url, secret_key))
    lock = PaygLock(home / PAYG_FILE, clock=shop.sandbox_now)
    print(f"  phone {device_id} enrolled; its OpenPAYGO credentials stay on the phone; locked until paid: {lock.locked()}")
    return device_id, lock
