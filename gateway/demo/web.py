"""The demo's web part (issue 12): a checkout session for the phone, made through the SDK like any
merchant's shop would, and where to find the hosted page and the dashboard."""
from __future__ import annotations

from collections.abc import Callable

from gateway.sdk.client import Paygate

SERVE_URL = "http://127.0.0.1:8000"  # where `paygate serve` listens by default


def show_web(shop: Paygate, out: Callable[[str], None] = print) -> dict:
    """Create a checkout session for a CNY 3,999 phone (card or wallet, open for a day) and print
    its hosted page and the dashboard's address; returns the session."""
    session = shop.create_checkout_session(
        [{"name": "Demo Phone 12 (128 GB)", "amount": 399900}],
        success_url="https://shop.example/thanks?session={CHECKOUT_SESSION_ID}", cancel_url="https://shop.example/cart",
        payment_methods=["card", "wallet"], expires_in=24 * 3600,
    )
    path = session["url"].removeprefix(shop.base_url)
    out("\nhosted checkout and dashboard:")
    out(f"  checkout session {session['id']} ({session['status']}, open for 24 h)")
    out(f"  checkout page: {session['url']} (while the demo runs; afterwards, with `paygate serve`: {SERVE_URL}{path})")
    out(f"  dashboard:     {shop.base_url}/dashboard/ (afterwards {SERVE_URL}/dashboard/); sign in after "
        "`paygate user create --operator you@example.com`")
    return session
