"""What every blueprint shares: the gateway for this request, authentication, 400 on bad input."""
from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from gateway.domain.errors import DomainError
from gateway.bootstrap import Gateway
from gateway.observability import logs
from gateway.services.merchants import Principal, authenticate


class ApiParser(FlaskParser):
    # Bad input is the client's fault and changes nothing: 400, as the error contract says.
    DEFAULT_VALIDATION_STATUS = 400


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = ApiParser()

    def arguments(self, schema, *args, **kwargs):
        """As flask-smorest's, with a schema class made an instance once, here: webargs builds a
        schema given as a class anew for every request (a deep copy of all its fields)."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


class Unauthenticated(DomainError):
    status = 401
    type = "authentication_error"


class Forbidden(DomainError):
    status = 403
    type = "permission_error"


def gateway() -> Gateway:
    return current_app.extensions["paygate"]


def principal() -> Principal:
    return g.principal


def require_key(allow_publishable: bool = False, allow_enrollment: bool = False) -> None:
    """Authenticate the Bearer key; publishable keys and enrollment tokens may only reach the
    endpoints that allow them."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("authentication_required", "Send your API key as 'Authorization: Bearer sk_test_...'.")
    found = authenticate(gateway(), key.strip())
    if found is None:
        raise Unauthenticated("invalid_api_key", "The API key is not valid.")
    allowed = {"secret"} | ({"publishable"} if allow_publishable else set()) | ({"enrollment"} if allow_enrollment else set())
    if found.kind not in allowed:
        raise Forbidden("secret_key_required", "This endpoint needs a secret key (sk_...).")
    g.principal = found
    logs.bind(merchant_id=found.merchant_id)
