"""The hosted checkout page: /checkout/<session id>.

The card is tokenized in the browser with the session's publishable key (static/checkout.js
posts it to /v1/tokens); the card inputs carry no `name`, so the form sent here holds only the
token. Every POST answers with a redirect (or the page with its errors), so a reload never
sends a payment again; the service refuses a second attempt while one is in flight.
"""
from __future__ import annotations

import segno
from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import Markup

from gateway.domain.errors import DomainError, NotFound
from gateway.services import checkout
from gateway.web import csrf, current_gateway

bp = Blueprint("checkout", __name__, url_prefix="/checkout")

WALLETS = {"alipay_like": "Alipay-like wallet", "wechat_like": "WeChat-Pay-like wallet"}

# What the shopper reads, by error or decline code: plain words, and what to do next.
MESSAGES = {
    "invalid_number": "Enter the 16 to 19 digits on the front of your card.",
    "incorrect_number": "This card number is not valid. Check the digits.",
    "unsupported_card": "Only UnionPay debit cards can be used here.",
    "unsupported_bank": "Cards from this bank cannot be used here yet.",
    "invalid_expiry_month": "Enter the expiry month as a number from 1 to 12.",
    "expired_card": "This card has expired. Check the date, or use another card.",
    "invalid_cvc": "Enter the 3 digits on the back of your card.",
    "insufficient_funds": "Your bank declined the card: there is not enough money in the account. Try another card.",
    "amount_over_limit": "This amount is over your bank's limit for paying online with this card. Try another card.",
    "bank_unavailable": "Your bank is closed for maintenance right now. Try again later, or pay another way.",
    "device_declined": "The payment was declined on your device. Nothing was charged.",
    "confirmation_expired": "The payment was not approved on your device in time. Nothing was charged; you can try again.",
    "order_expired": "The wallet order expired before it was paid. Nothing was charged; you can try again.",
    "token_already_used": "This card entry was already used. Enter the card again.",
    "payment_in_progress": "Your payment is already being processed. Please wait: you will not be charged twice.",
    "mobile_invalid": "Enter your 11-digit mobile number, starting with 1.",
    "id_number_invalid_length": "Your national ID number has 18 characters.",
    "id_number_invalid_format": "Your national ID number is 17 digits followed by a digit or X.",
    "id_number_invalid_birth_date": "The birth date in this ID number is not valid. Check the digits.",
    "id_number_unknown_region": "The region code at the start of this ID number is not valid. Check the digits.",
    "id_number_invalid_checksum": "This ID number is not valid. Check each digit.",
    "underage": "You must be 18 or older to pay in installments.",
    "customer_exists": "You are already registered with this shop. Pay by card or wallet, or contact the shop.",
    "credit_limit_exceeded": "This plan is over your installment credit limit. Pay by card or wallet instead.",
    "incorrect_code": "That code is not right. Check the text message and try again.",
    "code_expired": "That code has expired. Start again to get a new one.",
    "code_invalid": "Enter the 6-digit code from the text message.",
    "card_binding_locked": "Too many wrong codes. Pay by card or wallet instead.",
    "agreement_missing": "Tick the boxes to agree to the schedule and the consents.",
    "term_invalid": "Choose one of the terms shown.",
    "checkout_session_expired": "This checkout has expired. Nothing was charged.",
    "checkout_session_complete": "This checkout is already paid.",
}

# Where each error is shown: the service's `param` -> the page's field id, per form.
FIELDS = {
    "card": {"card_number": "card-number", "exp_month": "card-expiry", "exp_year": "card-expiry", "cvv": "card-cvv", "holder_name": "card-holder"},
    "wallet": {},
    "installments": {"name": "inst-name", "mobile": "inst-mobile", "id_number": "inst-id", "card_number": "inst-card-number",
                     "exp_month": "inst-expiry", "exp_year": "inst-expiry", "cvv": "inst-cvv", "term_months": "inst-term", "agree": "inst-agree",
                     "code": "inst-code", "amount": "inst-term"},
}
FORM_ALERT = {"card": "card-form-error", "wallet": "wallet-form-error", "installments": "inst-form-error"}


@bp.before_request
def _protect() -> None:
    csrf.protect()


@bp.errorhandler(CSRFError)
def _csrf_failed(error):
    return render_template("checkout/message.html", title="Please try again",
                           message="This page was open too long or came from elsewhere. Go back, reload the page and try again."), 400


@bp.errorhandler(404)
def _not_found(error):
    return render_template("checkout/message.html", title="Checkout not found",
                           message="This payment link is not valid. Go back to the shop and start again."), 404


@bp.route("/<session_id>", methods=["GET"])
def page(session_id):
    view = _session(session_id)
    return _render(view)


@bp.route("/<session_id>/status", methods=["GET"])
def status(session_id):
    """What the waiting page polls: complete (and where to go), still waiting, or failed."""
    view = _session(session_id)
    attempt = view.attempt
    return jsonify({
        "status": view.status,
        "attempt": attempt.status if attempt else None,
        "redirect": view.return_url if view.status == "complete" else None,
        "reload": view.status == "expired" or bool(attempt and attempt.failed),
    })


@bp.route("/<session_id>/card", methods=["POST"])
def pay_by_card(session_id):
    token = request.form.get("token", "")
    if not token.startswith("tok_"):
        return _render(_session(session_id), errors={"card-number": "Enter your card details, then press Pay."}, open_method="card", status=400)
    return _attempt(session_id, "card", lambda gw: checkout.pay_with_card(gw, session_id, token))


@bp.route("/<session_id>/wallet", methods=["POST"])
def pay_by_wallet(session_id):
    provider = request.form.get("wallet", "")
    if provider not in WALLETS:
        return _render(_session(session_id), errors={"wallet-provider": "Choose a wallet."}, open_method="wallet", status=400)
    return _attempt(session_id, "wallet", lambda gw: checkout.pay_with_wallet(gw, session_id, provider))


@bp.route("/<session_id>/wallet/cancel", methods=["POST"])
def abandon_wallet(session_id):
    view = checkout.abandon_wallet_order(current_gateway(), session_id)
    if view.status == "complete":
        return redirect(view.return_url, 303)
    return _render(view, errors={}, open_method="card")


@bp.route("/<session_id>/installments", methods=["POST"])
def start_installments(session_id):
    form = request.form
    agreed = all(form.get(box) == "yes" for box in ("agree_schedule", "consent_identity", "consent_card"))
    try:
        shopper = checkout.Shopper(
            name=form.get("name", "").strip(), mobile=form.get("mobile", "").strip(), id_number=form.get("id_number", "").strip().upper(),
            card_number=form.get("card_number", ""), exp_month=_int(form.get("exp_month")), exp_year=_int(form.get("exp_year")),
            cvv=form.get("cvv", "").strip(), term_months=_int(form.get("term_months")), agreed=agreed,
        )
    except ValueError:
        return _render(_session(session_id), errors={"inst-expiry": "Enter the expiry month and year as numbers."}, open_method="installments", status=400)
    if not shopper.name:
        return _render(_session(session_id), errors={"inst-name": "Enter your name as on your ID card."}, open_method="installments", status=400)
    return _attempt(session_id, "installments", lambda gw: checkout.start_installments(gw, session_id, shopper))


@bp.route("/<session_id>/installments/confirm", methods=["POST"])
def confirm_installments(session_id):
    code = request.form.get("code", "").strip()
    return _attempt(session_id, "installments", lambda gw: checkout.confirm_installments(gw, session_id, code))


def _attempt(session_id: str, method: str, act):
    try:
        view = act(current_gateway())
    except DomainError as error:
        if isinstance(error, NotFound) and error.param is None:
            abort(404)
        field = FIELDS[method].get(error.param or "", FORM_ALERT[method])
        return _render(_session(session_id), errors={field: MESSAGES.get(error.code, error.message)}, open_method=method, status=error.status)
    if view.status == "complete":
        return redirect(view.return_url, 303)
    if view.attempt is not None and view.attempt.failed:
        return _render(view, errors=_failure(view, method), open_method=method, status=402)
    return redirect(url_for(".page", session_id=session_id), 303)


def _failure(view: checkout.SessionView, method: str) -> dict:
    attempt = view.attempt
    message = MESSAGES.get(attempt.failure_code or "", attempt.failure_message or "The payment did not go through. Nothing was charged; you can try again.")
    field = {"card": "card-number", "installments": "inst-form-error"}.get(method, FORM_ALERT[method])
    return {field: message}


def _session(session_id: str) -> checkout.SessionView:
    try:
        return checkout.page_session(current_gateway(), session_id)
    except NotFound:
        abort(404)


def _render(view: checkout.SessionView, errors: dict | None = None, open_method: str | None = None, status: int = 200):
    gw = current_gateway()
    attempt = view.attempt
    waiting = view.status == "open" and attempt is not None and attempt.in_flight
    offers = checkout.installment_offers(gw, view.id) if "installments" in view.payment_methods and view.status == "open" else []
    if errors is None and attempt is not None and attempt.failed and not waiting:
        errors = _failure(view, attempt.method or "card")
        open_method = attempt.method
    awaiting_code = view.installments_card is not None and not waiting and view.status == "open"
    return render_template(
        "checkout/page.html", session=view, attempt=attempt, waiting=waiting, offers=offers, errors=errors or {},
        open_method=open_method or ("installments" if awaiting_code else view.payment_methods[0]),
        wallets=WALLETS, qr=_qr(attempt) if waiting else None, awaiting_code=awaiting_code,
        sandbox_code=checkout.sandbox_sms_code(gw, view.id) if awaiting_code else None,
        sandbox=gw.settings.sandbox_endpoints, messages=MESSAGES, fields=FIELDS["card"],
    ), status


def _qr(attempt: checkout.Attempt) -> Markup | None:
    """The wallet order's QR code as inline SVG (drawn here: no image service, no internet)."""
    payload = (attempt.next_action or {}).get("qr_payload")
    if not payload:
        return None
    svg = segno.make(payload, error="m").svg_inline(scale=5, dark="#111111", light="#ffffff", omitsize=True)
    return Markup(svg)


def _int(value: str | None) -> int:
    return int((value or "").strip())
