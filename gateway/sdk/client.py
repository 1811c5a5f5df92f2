"""A small REST client for paygate, standard library only: what a merchant's own code (and our
demo, benchmarks and tests) calls instead of hand-made HTTP.

    from gateway.sdk.client import Paygate, PaygateError

    paygate = Paygate("https://paygate.example", "sk_test_...")
    try:
        payment = paygate.create_payment(amount=399_900, payment_method=token_id, confirm=True)
    except PaygateError as error:
        print(error.status, error.code, error.message)   # the API's error object, e.g. 402 card_declined

Every method returns the API's JSON object as a dict (amounts are integer fen; `.status` and
`.headers` tell how it came, e.g. `Idempotent-Replayed: true`) and raises one `PaygateError` for
any error answer. POSTs carry an `Idempotency-Key`: pass your own (e.g. your order id) to make a
retry safe; otherwise each call gets a fresh one.

The transport is a function `(method, url, headers, body) -> (status, headers, body)`: urllib by
default; tests hand in one over Flask's test client.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["Answer", "Paygate", "PaygateError", "Transport", "urllib_transport"]

JSON = dict[str, Any]
Transport = Callable[[str, str, dict[str, str], bytes | None], tuple[int, Mapping[str, str], bytes]]


class Answer(dict):
    """The API's JSON object, with the HTTP status and headers it came with."""

    def __init__(self, body: JSON, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(body)
        self.status = status
        self.headers: Mapping[str, str] = headers or {}


class PaygateError(Exception):
    """An error answer: `status` (HTTP), `headers` (e.g. Retry-After on 429) and the API's error
    object `{"type", "code", "message", "param"}` (also as attributes).

    >>> error = PaygateError(402, {"error": {"type": "card_error", "code": "card_declined", "message": "Declined.", "param": None}})
    >>> error.code, error.type, str(error)
    ('card_declined', 'card_error', '402 card_declined: Declined.')
    """

    def __init__(self, status: int, body: JSON, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.headers: Mapping[str, str] = headers or {}
        self.error: JSON = body.get("error") if isinstance(body.get("error"), dict) else {"message": str(body)}
        self.type: str | None = self.error.get("type")
        self.code: str | None = self.error.get("code")
        self.message: str = self.error.get("message") or ""
        self.param: str | None = self.error.get("param")
        super().__init__(f"{status} {self.code}: {self.message}")


def urllib_transport(timeout: float = 30.0) -> Transport:
    def send(method: str, url: str, headers: dict[str, str], body: bytes | None) -> tuple[int, Mapping[str, str], bytes]:
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    return send


class Paygate:
    """A client bound to one API key (sk_... for everything, pk_... for tokens only, enr_... for
    enrolling a device)."""

    def __init__(self, base_url: str, api_key: str, *, transport: Transport | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.transport = transport or urllib_transport(timeout)

    def request(self, method: str, path: str, body: JSON | None = None, *, query: JSON | None = None,
                idempotency_key: str | None = None) -> Answer:
        """One call; the decoded JSON answer, or PaygateError."""
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        data = None
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
            headers["Content-Type"] = "application/json"
            data = json.dumps(body or {}).encode()
        url = self.base_url + path
        given = {name: value for name, value in (query or {}).items() if value is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given)
        status, answer_headers, raw = self.transport(method, url, headers, data)
        answer = json.loads(raw) if raw else {}
        if status >= 400:
            raise PaygateError(status, answer, answer_headers)
        return Answer(answer, status, answer_headers)

    def _post(self, path: str, body: JSON | None = None, idempotency_key: str | None = None) -> JSON:
        return self.request("POST", path, _without_none(body or {}), idempotency_key=idempotency_key)

    def _get(self, path: str, **query: Any) -> JSON:
        return self.request("GET", path, query=query)

    # ---- cards, payments, refunds -----------------------------------------------------------

    def create_token(self, card_number: str, exp_month: int, exp_year: int, cvv: str, holder_name: str) -> JSON:
        """A single-use card token (tok_...); a publishable key (pk_...) may call this."""
        return self._post("/v1/tokens", {"card_number": card_number, "holder_name": holder_name,
                                         "exp_month": exp_month, "exp_year": exp_year, "cvv": cvv})

    def create_payment(self, amount: int, payment_method: str | JSON, *, currency: str = "CNY", confirm: bool = False,
                       capture_method: str | None = None, description: str | None = None,
                       metadata: dict[str, str] | None = None, confirmation: JSON | None = None,
                       idempotency_key: str | None = None) -> JSON:
        """payment_method: a token id, {"type": "saved_card", "card": "card_..."} or
        {"type": "wallet", "provider": "alipay_like" | "wechat_like"}."""
        return self._post("/v1/payments", {"amount": amount, "currency": currency, "payment_method": payment_method,
                                           "confirm": confirm, "capture_method": capture_method, "description": description,
                                           "metadata": metadata, "confirmation": confirmation}, idempotency_key)

    def retrieve_payment(self, payment_id: str) -> JSON:
        return self._get(f"/v1/payments/{payment_id}")

    def list_payments(self, limit: int | None = None, starting_after: str | None = None) -> JSON:
        return self._get("/v1/payments", limit=limit, starting_after=starting_after)

    def confirm_payment(self, payment_id: str, idempotency_key: str | None = None) -> JSON:
        return self._post(f"/v1/payments/{payment_id}/confirm", idempotency_key=idempotency_key)

    def capture_payment(self, payment_id: str, amount_to_capture: int | None = None, idempotency_key: str | None = None) -> JSON:
        return self._post(f"/v1/payments/{payment_id}/capture", {"amount_to_capture": amount_to_capture}, idempotency_key)

    def cancel_payment(self, payment_id: str, idempotency_key: str | None = None) -> JSON:
        return self._post(f"/v1/payments/{payment_id}/cancel", idempotency_key=idempotency_key)

    def create_refund(self, payment: str, amount: int | None = None, idempotency_key: str | None = None) -> JSON:
        """Refund `amount` fen of a payment (all that is left when omitted)."""
        return self._post("/v1/refunds", {"payment": payment, "amount": amount}, idempotency_key)

    def retrieve_refund(self, refund_id: str) -> JSON:
        return self._get(f"/v1/refunds/{refund_id}")

    def balance(self) -> JSON:
        return self._get("/v1/balance")

    def list_banks(self) -> JSON:
        """The national banks reached, their BINs, connector and quick-pay limits."""
        return self._get("/v1/banks")

    # ---- customers, consents, saved cards ------------------------------------------------------

    def create_customer(self, name: str, mobile: str, id_number: str, identity_consent: JSON) -> JSON:
        """identity_consent: {"version", "purpose"} of the customer's consent to real-name checks."""
        return self._post("/v1/customers", {"name": name, "mobile": mobile, "id_number": id_number,
                                            "identity_consent": identity_consent})

    def retrieve_customer(self, customer_id: str) -> JSON:
        return self._get(f"/v1/customers/{customer_id}")

    def delete_customer(self, customer_id: str) -> JSON:
        return self.request("DELETE", f"/v1/customers/{customer_id}")

    def grant_consent(self, customer_id: str, kind: str, version: str, purpose: str) -> JSON:
        return self._post(f"/v1/customers/{customer_id}/consents", {"kind": kind, "version": version, "purpose": purpose})

    def list_consents(self, customer_id: str) -> JSON:
        return self._get(f"/v1/customers/{customer_id}/consents")

    def withdraw_consent(self, customer_id: str, kind: str) -> JSON:
        return self._post(f"/v1/customers/{customer_id}/consents/{kind}/withdraw")

    def start_card_binding(self, customer_id: str, card_number: str, exp_month: int, exp_year: int, cvv: str) -> JSON:
        """The bank texts a code to the card holder; `verify_card` with it completes the binding."""
        return self._post(f"/v1/customers/{customer_id}/cards",
                          {"card_number": card_number, "exp_month": exp_month, "exp_year": exp_year, "cvv": cvv})

    def verify_card(self, customer_id: str, card_id: str, code: str) -> JSON:
        return self._post(f"/v1/customers/{customer_id}/cards/{card_id}/verify", {"code": code})

    def list_cards(self, customer_id: str) -> JSON:
        return self._get(f"/v1/customers/{customer_id}/cards")

    # ---- installments --------------------------------------------------------------------------

    def create_installment_product(self, name: str, **terms: Any) -> JSON:
        """terms: terms, method, apr, fee_rate, down_payment_share, min_amount, max_amount,
        grace_days, late_fee_fixed, late_fee_rate, late_fee_cap (see /openapi.json)."""
        return self._post("/v1/installment_products", {"name": name, **terms})

    def retrieve_installment_product(self, product_id: str) -> JSON:
        return self._get(f"/v1/installment_products/{product_id}")

    def create_installment_quote(self, amount: int, term_months: int, product: str | None = None, **inline_terms: Any) -> JSON:
        return self._post("/v1/installment_quotes", {"amount": amount, "term_months": term_months, "product": product, **inline_terms})

    def create_installment_plan(self, customer: str, card: str, product: str, term_months: int, amount: int,
                                device: str | None = None, source: str | None = None, fund: str | None = None,
                                idempotency_key: str | None = None) -> JSON:
        """source "fund" (with `fund`): installments are paid from the customer's fund units, the card pays the rest."""
        return self._post("/v1/installment_plans", {"customer": customer, "card": card, "product": product, "term_months": term_months,
                                                    "amount": amount, "device": device, "source": source, "fund": fund}, idempotency_key)

    def retrieve_installment_plan(self, plan_id: str) -> JSON:
        return self._get(f"/v1/installment_plans/{plan_id}")

    def pay_installment_plan(self, plan_id: str, kind: str = "next", amount: int | None = None,
                             idempotency_key: str | None = None) -> JSON:
        """kind: "next" (the next installment), "amount" or "payoff"."""
        return self._post(f"/v1/installment_plans/{plan_id}/payments", {"kind": kind, "amount": amount}, idempotency_key)

    def payoff_quote(self, plan_id: str) -> JSON:
        return self._get(f"/v1/installment_plans/{plan_id}/payoff_quote")

    def cancel_installment_plan(self, plan_id: str) -> JSON:
        return self._post(f"/v1/installment_plans/{plan_id}/cancel")

    # ---- the credit score ----------------------------------------------------------------------

    def credit_profile(self, customer_id: str) -> JSON:
        """The customer's latest score, band, installment limit, reasons and the data it used."""
        return self._get(f"/v1/customers/{customer_id}/credit_profile")

    def refresh_credit_profile(self, customer_id: str) -> JSON:
        """Score the customer now, from the data stored so far, with the live model."""
        return self._post(f"/v1/customers/{customer_id}/credit_profile/refresh")

    def contest_credit_decision(self, customer_id: str, reason: str) -> JSON:
        """The customer contests the automated decision; an operator reviews it."""
        return self._post(f"/v1/customers/{customer_id}/credit_profile/contests", {"reason": reason})

    def list_credit_models(self) -> JSON:
        """Every model version with its validation figures; `live` marks the ones in use."""
        return self._get("/v1/credit_models")

    def create_bureau_report(self, customer_id: str, purpose: str) -> JSON:
        """Ask the licensed bureau for the customer's report (needs their credit_bureau consent).
        purpose: "installment_application" or "limit_review"."""
        return self._post(f"/v1/customers/{customer_id}/bureau_reports", {"purpose": purpose})

    # ---- devices -------------------------------------------------------------------------------

    def create_device(self, csr: str, model: str, kind: str, signing_key: str) -> JSON:
        """Enroll a device: its CSR (PEM) and public signing key; answers its certificate."""
        return self._post("/v1/devices", {"csr": csr, "model": model, "kind": kind, "signing_key": signing_key})

    def retrieve_device(self, device_id: str) -> JSON:
        return self._get(f"/v1/devices/{device_id}")

    def revoke_device(self, device_id: str) -> JSON:
        return self._post(f"/v1/devices/{device_id}/revoke")

    def release_device(self, device_id: str) -> JSON:
        return self._post(f"/v1/devices/{device_id}/release")

    def device_usage(self, device_id: str, date_from: str | None = None, date_to: str | None = None) -> JSON:
        """Daily usage between two ISO dates (inclusive)."""
        return self._get(f"/v1/devices/{device_id}/usage", **{"from": date_from, "to": date_to})

    def create_enrollment_token(self, expires_in: int | None = None) -> JSON:
        """A one-time key (enr_...) a device uses to enroll itself."""
        return self._post("/v1/enrollment_tokens", {"expires_in": expires_in})

    # ---- hosted checkout -----------------------------------------------------------------------

    def create_checkout_session(self, line_items: list[JSON], success_url: str, cancel_url: str, *, currency: str = "CNY",
                                payment_methods: list[str] | None = None, installment_product: str | None = None,
                                confirmation_device: str | None = None, expires_in: int | None = None,
                                idempotency_key: str | None = None) -> JSON:
        """A hosted page to send the shopper to (the answer's `url`). line_items: [{"name", "amount"
        (fen), "quantity"}]; payment_methods among card, wallet, installments (default card)."""
        return self._post("/v1/checkout/sessions", {
            "line_items": line_items, "currency": currency, "payment_methods": payment_methods,
            "installment_product": installment_product, "confirmation_device": confirmation_device,
            "success_url": success_url, "cancel_url": cancel_url, "expires_in": expires_in}, idempotency_key)

    def retrieve_checkout_session(self, session_id: str) -> JSON:
        return self._get(f"/v1/checkout/sessions/{session_id}")

    # ---- webhooks and events -------------------------------------------------------------------

    def create_webhook_endpoint(self, url: str, enabled_events: list[str] | None = None, description: str | None = None) -> JSON:
        """The answer holds the signing secret (whsec_...), shown only this once."""
        return self._post("/v1/webhook_endpoints", {"url": url, "enabled_events": enabled_events or ["*"], "description": description})

    def list_webhook_endpoints(self, limit: int | None = None, starting_after: str | None = None) -> JSON:
        return self._get("/v1/webhook_endpoints", limit=limit, starting_after=starting_after)

    def retrieve_webhook_endpoint(self, endpoint_id: str) -> JSON:
        return self._get(f"/v1/webhook_endpoints/{endpoint_id}")

    def delete_webhook_endpoint(self, endpoint_id: str) -> JSON:
        return self.request("DELETE", f"/v1/webhook_endpoints/{endpoint_id}")

    def list_events(self, type: str | None = None, delivery_status: str | None = None, limit: int | None = None,
                    starting_after: str | None = None) -> JSON:
        return self._get("/v1/events", type=type, delivery_status=delivery_status, limit=limit, starting_after=starting_after)

    def retrieve_event(self, event_id: str) -> JSON:
        return self._get(f"/v1/events/{event_id}")

    def redeliver_event(self, event_id: str, endpoint: str | None = None) -> JSON:
        return self._post(f"/v1/events/{event_id}/redeliver", {"endpoint": endpoint})

    # ---- money-market fund (docs/fund.md) ------------------------------------------------------

    def create_fund(self, code: str, name: str, manager: str, manager_public_key: str, *, carryover: str | None = None,
                    cutoff: str | None = None, fast_redemption_daily_cap: int | None = None, idempotency_key: str | None = None) -> JSON:
        """carryover "daily" (default) or "monthly"; cutoff "HH:MM" Beijing time (default "15:00")."""
        return self._post("/v1/funds", {"code": code, "name": name, "manager": manager, "manager_public_key": manager_public_key,
                                        "carryover": carryover, "cutoff": cutoff, "fast_redemption_daily_cap": fast_redemption_daily_cap},
                          idempotency_key)

    def retrieve_fund(self, fund_id: str) -> JSON:
        return self._get(f"/v1/funds/{fund_id}")

    def list_funds(self) -> JSON:
        return self._get("/v1/funds")

    def record_fund_income(self, fund_id: str, day: str, income_per_10k: str, signature: str) -> JSON:
        """One line of the manager's signed daily feed (`day` YYYY-MM-DD); the same line again is a no-op."""
        return self._post(f"/v1/funds/{fund_id}/income", {"date": day, "income_per_10k": income_per_10k, "signature": signature})

    def fund_yields(self, fund_id: str, date_from: str | None = None, date_to: str | None = None) -> JSON:
        """Each natural day's income per 10,000 units and 7-day annualized yield (strings, as published)."""
        return self.request("GET", f"/v1/funds/{fund_id}/yields", query={"from": date_from, "to": date_to})

    def subscribe_fund(self, customer: str, fund: str, amount: int, payment_method: str, idempotency_key: str | None = None) -> JSON:
        """Move `amount` fen from a saved card (card_...) into the fund."""
        return self._post(f"/v1/customers/{customer}/fund_subscriptions", {"fund": fund, "amount": amount, "payment_method": payment_method},
                          idempotency_key)

    def retrieve_fund_subscription(self, subscription_id: str) -> JSON:
        return self._get(f"/v1/fund_subscriptions/{subscription_id}")

    def redeem_fund(self, customer: str, fund: str, amount: int, speed: str, card: str, idempotency_key: str | None = None) -> JSON:
        """speed "fast" (paid at once, within the day's cap) or "normal" (paid on the next trading day)."""
        return self._post(f"/v1/customers/{customer}/fund_redemptions", {"fund": fund, "amount": amount, "speed": speed, "card": card},
                          idempotency_key)

    def retrieve_fund_redemption(self, redemption_id: str) -> JSON:
        return self._get(f"/v1/fund_redemptions/{redemption_id}")

    def fund_holdings(self, customer: str) -> JSON:
        return self._get(f"/v1/customers/{customer}/fund_holdings")

    def fund_statements(self, customer: str, month: str) -> JSON:
        """month "YYYY-MM"."""
        return self._get(f"/v1/customers/{customer}/fund_statements", month=month)

    # ---- test mode (PAYGATE_SANDBOX_ENDPOINTS=1) -----------------------------------------------

    def sandbox_clock(self) -> JSON:
        """{"now": ISO time every process of the deployment sees, "offset_seconds"}."""
        return self._get("/v1/sandbox/clock")

    def sandbox_now(self) -> datetime:
        return datetime.fromisoformat(self.sandbox_clock()["now"])

    def advance_clock(self, to: datetime) -> JSON:
        """Move the deployment's time forward to `to` (timezone-aware); never back."""
        return self._post("/v1/sandbox/clock", {"advance_to": to.isoformat()})

    def reset_clock(self) -> JSON:
        """Back to real time."""
        return self._post("/v1/sandbox/clock", {"reset": True})

    def sandbox_sms_code(self, card_id: str) -> str:
        """The code the sandbox bank texted for a card binding."""
        return self._get(f"/v1/sandbox/card_bindings/{card_id}/sms_code")["code"]

    def sandbox_wallet_confirm(self, payment_id: str, approve: bool = True) -> JSON:
        """The shopper confirms (or declines) a wallet payment in the wallet app."""
        return self._post(f"/v1/sandbox/wallets/payments/{payment_id}/confirm", {"approve": approve})

    def sandbox_usage_history(self, device_id: str, days: int, profile: str = "steady") -> JSON:
        """Daily usage for the `days` before today, as if the device had sent telemetry all along
        (profile "steady" or "irregular"); its owner must have given device_usage consent."""
        return self._post(f"/v1/sandbox/devices/{device_id}/usage_history", {"days": days, "profile": profile})

    def sandbox_bank_callback(self, payment_id: str) -> JSON:
        """The sandbox bank sends its signed callback about a debit now."""
        return self._post(f"/v1/sandbox/payments/{payment_id}/bank_callback")

    def sandbox_run_queue(self, queue: str) -> JSON:
        """One pass of a worker queue ("fund" or "installments") now: {"done": jobs it did}."""
        return self._post(f"/v1/sandbox/queues/{queue}/run")


def _without_none(body: JSON) -> JSON:
    """Optional fields left out rather than sent as null.

    >>> _without_none({"amount": 100, "description": None})
    {'amount': 100}
    """
    return {name: value for name, value in body.items() if value is not None}
