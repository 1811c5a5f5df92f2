"""The dashboard at /dashboard: operators see every merchant, a merchant's users their own.
Merchant admins and operators may refund (behind a confirmation page); viewers only read."""
from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError

from gateway.config import Settings
from gateway.domain.errors import DomainError, NotFound
from gateway.services import dashboard, dashboard_users
from gateway.web import csrf, current_gateway
from gateway.web.charts import daily_chart, reasons_chart, schedule_chart, telemetry_chart
from gateway.web.nav import nav_entries

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
login_manager = LoginManager()
login_manager.login_view = "dashboard.sign_in"
login_manager.login_message = "Sign in to see the dashboard."


@dataclass
class SignedIn(UserMixin):
    """flask-login's view of a dashboard user."""

    user: dashboard_users.User

    def get_id(self) -> str:
        return self.user.id


@login_manager.user_loader
def _load_user(user_id: str) -> SignedIn | None:
    user = dashboard_users.get_user(current_gateway(), user_id)
    return SignedIn(user) if user else None


def signed_in_user() -> dashboard_users.User:
    return current_user.user


@bp.before_request
def _protect() -> None:
    csrf.protect()


@bp.errorhandler(CSRFError)
def _csrf_failed(error):
    return render_template("dashboard/error.html", title="Please try again",
                           message="The form had expired or came from another site. Go back, reload the page and try again."), 400


@bp.errorhandler(404)
def _not_found(error):
    return render_template("dashboard/error.html", title="Not found", message="There is nothing here, or it belongs to another merchant."), 404


@bp.errorhandler(403)
def _forbidden(error):
    return render_template("dashboard/error.html", title="Not allowed", message="Your role may not do this."), 403


@bp.context_processor
def _layout() -> dict:
    user = signed_in_user() if current_user.is_authenticated else None
    return {"nav": nav_entries(user), "user": user}


# ---- sign-in --------------------------------------------------------------------------------------

@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if request.method == "GET":
        return render_template("dashboard/sign_in.html", email="", error=None)
    email, password = request.form.get("email", ""), request.form.get("password", "")
    user = dashboard_users.sign_in(current_gateway(), email, password)
    if user is None:
        return render_template("dashboard/sign_in.html", email=email, error="The e-mail or the password is not right."), 401
    login_user(SignedIn(user))
    target = request.args.get("next", "")
    # Only a path on this site: an absolute URL in `next` would make sign-in an open redirect.
    return redirect(target if target.startswith("/dashboard") else url_for(".home"), 303)


def limit_sign_in(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """Failed sign-ins (401) count per account (the e-mail typed, hashed) and per client address;
    past either limit the sign-in form answers 429, with Retry-After, until the window passes.
    Counters are the app's flask-limiter's: in Redis when PAYGATE_REDIS_URL is set."""
    view = app.view_functions["dashboard.sign_in"]
    for limit, key_func, scope in ((settings.rate_limit_sign_in_per_account, _account_key, "sign-in-account"),
                                   (settings.rate_limit_sign_in_per_address, _address_key, "sign-in-address")):
        view = limiter.limit(limit, key_func=key_func, scope=scope, methods=["POST"], deduct_when=_sign_in_failed,
                             error_message="Too many failed sign-ins.")(view)
    app.view_functions["dashboard.sign_in"] = view


def _sign_in_failed(response: Response) -> bool:
    return response.status_code == 401


def _account_key() -> str:
    email = dashboard_users.normal_email(request.form.get("email", ""))
    return "account:" + hashlib.sha256(email.encode()).hexdigest()[:32]  # no e-mail address in the counter store


def _address_key() -> str:
    return "address:" + get_remote_address()


@bp.errorhandler(429)
def _too_many_sign_ins(error):
    window = getattr(getattr(error, "limit", None), "limit", None)
    minutes = math.ceil(window.get_expiry() / 60) if window is not None else 15
    message = f"Too many failed sign-ins for this account or from this address. Wait {minutes} minutes and try again."
    return render_template("dashboard/sign_in.html", email=request.form.get("email", ""), error=message), 429


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    logout_user()
    return redirect(url_for(".sign_in"), 303)


# ---- pages ----------------------------------------------------------------------------------------

@bp.route("/", methods=["GET"])
@login_required
def home():
    figures = dashboard.home(current_gateway(), signed_in_user().scope)
    return render_template("dashboard/home.html", figures=figures, daily=daily_chart(figures.days),
                           reasons=reasons_chart(figures.failure_reasons))


@bp.route("/payments", methods=["GET"])
@login_required
def payments():
    search, status = request.args.get("q", ""), request.args.get("status", "")
    page = dashboard.payments_page(current_gateway(), signed_in_user().scope, search, status, _cursor("before"), _cursor("after"))
    return render_template("dashboard/payments.html", page=page, search=search, status=status, statuses=dashboard.PAYMENT_STATUSES)


@bp.route("/payments/<payment_id>", methods=["GET"])
@login_required
def payment(payment_id):
    detail = found_or_404(lambda: dashboard.payment_detail(current_gateway(), signed_in_user().scope, payment_id))
    return render_template("dashboard/payment.html", detail=detail, p=detail.payment)


@bp.route("/payments/<payment_id>/refund", methods=["POST"])
@login_required
def refund(payment_id):
    """First the confirmation page (amount checked, nothing done); then, with `confirm`, the
    refund, once per confirmation page shown (its request key)."""
    if not signed_in_user().may_refund:
        abort(403)
    detail = found_or_404(lambda: dashboard.payment_detail(current_gateway(), signed_in_user().scope, payment_id))
    amount = _amount_fen(request.form.get("amount", ""))
    if amount is None or not 0 < amount <= detail.refundable:
        flash(f"Enter an amount from 0.01 up to the refundable {detail.refundable / 100:,.2f} (CNY).", "error")
        return redirect(url_for(".payment", payment_id=payment_id), 303)
    if request.form.get("confirm") != "yes":
        return render_template("dashboard/refund_confirm.html", p=detail.payment, amount=amount, request_key=secrets.token_urlsafe(16))
    try:
        made = dashboard.refund(current_gateway(), signed_in_user().scope, payment_id, amount, request.form.get("request_key", ""))
    except DomainError as error:
        flash(f"The refund was not made: {error.message}", "error")
        return redirect(url_for(".payment", payment_id=payment_id), 303)
    if "id" in made:
        flash(f"Refund {made['id']} of {made['amount'] / 100:,.2f} CNY: {made['status']}.", "ok")
    else:
        flash(f"The refund was not made: {made.get('message')}", "error")
    return redirect(url_for(".payment", payment_id=payment_id), 303)


@bp.route("/plans", methods=["GET"])
@login_required
def plans():
    delinquency = request.args.get("delinquency", "")
    found = dashboard.plans_page(current_gateway(), signed_in_user().scope, delinquency, _cursor("before"), _cursor("after"))
    return render_template("dashboard/plans.html", found=found, page=found.page, delinquency=delinquency, states=dashboard.DELINQUENCY_STATES)


@bp.route("/plans/<plan_id>", methods=["GET"])
@login_required
def plan(plan_id):
    detail = found_or_404(lambda: dashboard.plan_detail(current_gateway(), signed_in_user().scope, plan_id))
    return render_template("dashboard/plan.html", detail=detail, schedule=schedule_chart(detail.installments))


@bp.route("/devices", methods=["GET"])
@login_required
def devices():
    fleet = dashboard.fleet(current_gateway(), signed_in_user().scope, _cursor("page") or 0)
    return render_template("dashboard/devices.html", fleet=fleet, page=fleet.page, reasons=reasons_chart(fleet.rejections, "Rejected messages"))


@bp.route("/devices/<device_id>", methods=["GET"])
@login_required
def device(device_id):
    detail = found_or_404(lambda: dashboard.device_detail(current_gateway(), signed_in_user().scope, device_id))
    return render_template("dashboard/device.html", detail=detail, d=detail.device, telemetry=telemetry_chart(detail.days))


def found_or_404(read):
    """Another merchant's object is missing, as in the API: 404, never 403."""
    try:
        return read()
    except NotFound:
        abort(404)


def _cursor(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() else None


def _amount_fen(text: str) -> int | None:
    """'1,234.5' -> 123450; None if it is not an amount of yuan with at most 2 decimals."""
    cleaned = text.replace(",", "").strip()
    whole, _, cents = cleaned.partition(".")
    if not whole.isdigit() or len(cents) > 2 or (cents and not cents.isdigit()):
        return None
    return int(whole) * 100 + int(cents.ljust(2, "0") or 0)
