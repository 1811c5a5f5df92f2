"""Server-rendered pages of the gateway (issue 12): the hosted checkout and the dashboard.

Both are Flask blueprints over the services (which return plain data); they import neither
SQLAlchemy nor gateway.adapters. Every form carries a CSRF token (flask-wtf's CSRFProtect,
checked by the page blueprints only: the REST API authenticates with bearer keys instead);
dashboard sign-in sessions are flask-login's, in the signed session cookie; failed sign-ins are
limited by the app's flask-limiter (per account and per client address).
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

from gateway.bootstrap import Gateway
from gateway.web import formatting

# Blueprints that serve pages, not the documented REST API.
PAGE_BLUEPRINTS = ("web", "checkout", "dashboard")

csrf = CSRFProtect()

# Templates and static files shared by the page blueprints: /assets/... (vendored Chart.js
# included, so the pages work without internet access).
assets = Blueprint("web", __name__, static_folder="static", static_url_path="/assets", template_folder="templates")


def current_gateway() -> Gateway:
    """The gateway the app was built with (its composition root), for the page views."""
    return current_app.extensions["paygate"]


def init_web(app: Flask, gw: Gateway, limiter: Limiter) -> None:
    # The fund and credit pages add their routes to the dashboard's blueprint: imported before
    # it is registered.
    from gateway.web import checkout, dashboard, dashboard_credit, dashboard_fund  # noqa: F401

    app.secret_key = gw.vault.derive_secret("web-session-cookie")
    app.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # each page blueprint calls csrf.protect() before its views
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session cookie
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    csrf.init_app(app)
    dashboard.login_manager.init_app(app)
    formatting.register(app)
    app.register_blueprint(assets)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(dashboard.bp)
    dashboard.limit_sign_in(app, limiter, gw.settings)
