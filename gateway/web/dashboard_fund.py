"""The dashboard's fund page (/dashboard/fund): routes on the dashboard blueprint, so sign-in,
CSRF, roles and the layout are the dashboard's."""
from __future__ import annotations

from flask import render_template, request
from flask_login import login_required

from gateway.services import dashboard_fund
from gateway.web import current_gateway
from gateway.web.charts import income_chart
from gateway.web.dashboard import bp, found_or_404, signed_in_user
from gateway.web.nav import NavEntry, register

register(NavEntry("dashboard.fund", "Fund"))


@bp.route("/fund", methods=["GET"])
@login_required
def fund():
    """Every fund in scope, newest first; the daily income chart of `?fund=` (or the newest)."""
    picked = request.args.get("fund") or None
    page = found_or_404(lambda: dashboard_fund.fund_page(current_gateway(), signed_in_user().scope, picked))
    return render_template("dashboard/fund.html", page=page, income=income_chart(page.chart) if page.chart else None)

