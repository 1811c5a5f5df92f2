"""The Flask application factory: `gunicorn 'gateway.app:create_app()'`."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api as SmorestApi
from sqlalchemy.exc import DBAPIError

from gateway.entrypoints.api import balance, banks, customers, health, installments, metrics, observability, payments, refunds, tokens
from gateway.entrypoints.api import credit as credit_api
from gateway.entrypoints.api import checkout as checkout_api
from gateway.entrypoints.api import devices as device_api
from gateway.entrypoints.api import funds as fund_api
from gateway.entrypoints.api import sandbox as sandbox_api
from gateway.entrypoints.api import webhooks as webhook_api
from gateway.entrypoints.api.edge_guard import EdgeGuard
from gateway.entrypoints.api.errors import error_response
from gateway.entrypoints.api.openapi_errors import ErrorResponsesPlugin
from gateway.entrypoints.api.rate_limits import build_limiter
from gateway.entrypoints.api.schemas import ErrorOut
from gateway.config import Settings
from gateway.domain.errors import DomainError, ServiceUnavailable
from gateway.adapters.db.engine import database_unavailable
from gateway.bootstrap import Gateway
from gateway.observability import logs
from gateway.web import init_web


class Api(SmorestApi):
    ERROR_SCHEMA = ErrorOut

    def handle_http_exception(self, error):
        return error_response(error)


class Paygate(Flask):
    def log_exception(self, exc_info) -> None:
        # The error handler (entrypoints/api/errors.py) logs an unhandled exception, once; Flask
        # would log it a second time here.
        pass


def _outage_or_error(exc: DBAPIError):
    """A database that is down (or restarting) is a 503 with Retry-After, not a 500: the request
    did nothing, and the pool has already dropped the dead connections, so a retry may succeed."""
    if database_unavailable(exc):
        return error_response(ServiceUnavailable("The database is unavailable; retry shortly."))
    return error_response(exc)


def create_app(config: dict | None = None, gateway: Gateway | None = None) -> Flask:
    settings = gateway.settings if gateway else Settings.load(config)
    logs.ensure_configured(settings.log_format, settings.log_level)
    app = Paygate("paygate")
    app.config.update(
        API_TITLE="paygate",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_SPEC_OPTIONS={
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "info": {"description": "Payment and installment gateway. Amounts are integer fen."},
        },
    )
    gw = app.extensions["paygate"] = gateway or Gateway.from_settings(settings)
    if gw.sandbox_clock is not None:
        app.before_request(gw.refresh_clock)  # a clock moved by another process shows at once
    api = Api(app, spec_kwargs={"extra_plugins": [ErrorResponsesPlugin()]})
    observability.install(app)
    for blueprint in (tokens.blp, payments.blp, refunds.blp, balance.blp, customers.blp, installments.blp, banks.blp, health.blp,
                      metrics.blp):
        api.register_blueprint(blueprint)
    api.register_blueprint(device_api.blp)
    api.register_blueprint(credit_api.blp)
    api.register_blueprint(checkout_api.blp)
    api.register_blueprint(device_api.tokens_blp)
    for blueprint in webhook_api.blueprints:
        api.register_blueprint(blueprint)
    api.register_blueprint(fund_api.blp)
    if settings.sandbox_endpoints:
        api.register_blueprint(banks.sandbox)
        api.register_blueprint(sandbox_api.blp)
    app.register_error_handler(DomainError, error_response)
    app.register_error_handler(DBAPIError, _outage_or_error)
    limiter = build_limiter(app, settings)
    init_web(app, gw, limiter)
    app.wsgi_app = EdgeGuard(app.wsgi_app, settings.max_body_bytes)
    return app
