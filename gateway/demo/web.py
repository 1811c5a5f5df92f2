"""The demo's web part (issue 12): a checkout session for the phone, made over HTTP like any
merchant's shop would, and where to find the hosted page and the dashboard. HTTP only: no
services or adapters here."""
from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable

SERVE_URL = "http://127.0.0.1:8000"  # where `paygate serve` listens by default


def show_web(base_url: str, secret_key: str, out: Callable[[str], None] = print) -> dict:
    """Create a checkout session for a CNY 3,999 phone (card or wallet, open for a day) and print
    its hosted page and the dashboard's address; returns the session."""
    body = {
        "line_items": [{"name": "Demo Phone 12 (128 GB)", "amount": 399900}], "currency": "CNY",
        "payment_methods": ["card", "wallet"], "expires_in": 24 * 3600,
        "success_url": "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}", "cancel_url": "https://shop.example/cart",
    }
    request = urllib.request.Request(
        f"{base_url}/v1/checkout/sessions", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {secret_key}", "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        session = json.loads(response.read())
    path = session["url"].removeprefix(base_url)
    out("\nhosted checkout and dashboard:")
    out(f"  checkout session {session['id']} ({session['status']}, open for 24 h)")
    out(f"  checkout page: {session['url']} (while the demo runs; afterwards, with `paygate serve`: {SERVE_URL}{path})")
    out(f"  dashboard:     {base_url}/dashboard/ (afterwards {SERVE_URL}/dashboard/); sign in after "
        "`paygate user create --operator you@example.com`")
    return session
