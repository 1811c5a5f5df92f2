"""`paygate demo`: the gateway on embedded defaults (a SQLite file under ./var), driven over real
HTTP through the SDK the way a merchant's checkout would drive it, living through due dates on the
sandbox clock, then checked with `paygate ledger verify`.

Each part is a short script of SDK calls: payments, customers, wallets (with webhooks), the
money-market fund, installments, the credit score, devices, the hosted checkout. The demo starts
the app, the workers and ingest through their entry points and imports nothing of
gateway.services or gateway.adapters.
"""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, time, timedelta

from werkzeug.serving import make_server

from gateway.app import create_app
from gateway.config import Settings
from gateway.demo import credit, customers, fund, installments, payments, wallets
from gateway.demo.devices import demo_pki_dir, show_devices
from gateway.demo.web import show_web
from gateway.domain.clock import BEIJING
from gateway.domain.money import format_cny as yuan
from gateway.entrypoints.cli import new_merchant, report_ledger, upgrade_database
from gateway.entrypoints.cli.devices import ensure_device_ca
from gateway.observability import logs
from gateway.sdk.client import Paygate


def _interrupt(_signum, _frame) -> None:
    """A plain SIGTERM would skip the finally blocks that stop the demo's broker."""
    raise KeyboardInterrupt


def run_demo() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    logs.configure(Settings.load().env.get("PAYGATE_LOG_FORMAT", "console"), "WARNING")  # warnings only, for a human
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the summary
    # The device CA under var/ (not in the repo), and test mode for the sandbox banks, wallets and clock.
    overrides = {"pki_dir": str(demo_pki_dir(Settings.load())), "sandbox_endpoints": True}
    settings = Settings.load(overrides)
    upgrade_database(settings)
    ensure_device_ca(settings.pki_dir)  # devices enroll in the installments part already
    app = create_app(overrides)
    gw = app.extensions["paygate"]  # for the workers and ingest the demo runs in-process
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    print(f"paygate demo: gateway on {base_url}, database {settings.database_url}")
    print(f"  while it runs: dashboard {base_url}/dashboard, metrics {base_url}/metrics, API contract {base_url}/openapi.json\n")
    try:
        merchant = new_merchant(gw, "Demo Phone Shop")
        print(f"merchant {merchant['id']} created (secret key shown once: {merchant['secret_key'][:12]}...)")
        shop = Paygate(base_url, merchant["secret_key"])
        checkout = Paygate(base_url, merchant["publishable_key"])
        to_banking_hours(shop)
        payments.card_payments(shop, checkout)
        customer, card = customers.customers_and_saved_cards(shop)
        wallets.wallet_and_webhooks(shop, gw)
        # Before installments, which live a year ahead: the fund's trading calendar knows the
        # years chinese-calendar knows (docs/fund.md, "Trading calendar").
        fund.provisional_calendar(settings.trading_calendar_file, shop.sandbox_now().astimezone(BEIJING).date())
        fund.fund_part(shop)
        plan = installments.phone_on_installments(shop, gw, base_url, merchant["secret_key"], customer, card)
        credit.show_credit(shop, gw, base_url, merchant["secret_key"], customer, plan)  # goes on from the installments' time
        devices_ok = show_devices(gw, base_url, merchant["secret_key"])  # back to real time
        show_web(shop)
        balance = shop.balance()["available"][0]
    finally:
        server.shutdown()
    print(f"\nmerchant balance (captures - 0.6% fees - refunds): {yuan(balance['amount'])}")
    print("\n$ paygate ledger verify")
    ledger_ok = report_ledger(gw, print)
    if not ledger_ok:
        print("ledger verify FAILED")
    return 0 if ledger_ok and devices_ok else 1


def to_banking_hours(shop: Paygate) -> None:
    """The demo runs from the next 10:00 Beijing time on the sandbox clock (moving on in real time
    from there), so it never meets a sandbox bank's night maintenance window. It starts from real
    time even when an interrupted run left the clock a year ahead (the fund part needs a year its
    trading calendar knows)."""
    shop.reset_clock()
    now = shop.sandbox_now()
    ten = datetime.combine(now.astimezone(BEIJING).date(), time(10, 0), BEIJING)
    shop.advance_clock(ten if ten >= now else ten + timedelta(days=1))
