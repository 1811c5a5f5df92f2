"""Domain errors. Each carries the API error `type`, `code` and `param` it maps to, so the
entry points render them without knowing the rule that raised them."""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    type = "invalid_request_error"

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


class InvalidRequest(DomainError):
    status = 400


class NotFound(DomainError):
    status = 404

    def __init__(self, what: str, object_id: str, param: str | None = None) -> None:
        super().__init__("resource_missing", f"No such {what}: {object_id!r}", param)


class Conflict(DomainError):
    """The object is in a state that does not allow the request (illegal transition)."""

    status = 409


class CardDeclined(DomainError):
    status = 402
    type = "card_error"


class LedgerError(DomainError):
    """A posting that would break a ledger invariant. Never reaches a client as such:
    it means a bug or a race the service layer should have prevented."""

    status = 500
    type = "api_error"


class IdempotencyError(DomainError):
    """The same Idempotency-Key was sent with a different request."""

    status = 422
    type = "idempotency_error"


class ServiceUnavailable(DomainError):
    """A dependency (the database) is down for now: nothing was done, the same request may be
    retried after `retry_after` seconds."""

    status = 503
    type = "api_error"

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__("service_unavailable", message)
        self.retry_after = retry_after
