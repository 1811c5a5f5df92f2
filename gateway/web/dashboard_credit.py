"""The dashboard's credit page (/dashboard/credit): routes on the dashboard blueprint, so
sign-in, CSRF, roles and the layout are the dashboard's.

Read only: the limit policy in force, how the user's customers fall into its bands by their latest
score, and, for operators only, the open contests and the model versions."""
from __future__ import annotations

from flask import render_template
from flask_login import login_required

from gateway.services import dashboard_credit
from gateway.web import current_gateway
from gateway.web.charts import BLUE, reasons_chart
from gateway.web.dashboard import bp, signed_in_user
from gateway.web.nav import NavEntry, register

register(NavEntry("dashboard.credit", "Credit"))


@bp.route("/credit", methods=["GET"])
@login_required
def credit():
    figures = dashboard_credit.overview(current_gateway(), signed_in_user().scope)
    bars = [(f"Band {band.name}", band.customers) for band in figures.bands] + [("Not scored", figures.not_scored)]
    chart = reasons_chart(bars, "Customers", BLUE) if figures.scored else None
    return render_template("dashboard/credit.html", figures=figures, bands_chart=chart, bars=len(bars))
