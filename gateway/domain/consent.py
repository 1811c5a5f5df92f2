"""Consent kinds (PIPL: separate consent for each purpose) and what each one allows."""
from __future__ import annotations

from enum import Enum

from gateway.domain.errors import DomainError


class ConsentKind(str, Enum):
    IDENTITY = "identity"  # verify and keep the national ID (real-name registration)
    BANK_CARD = "bank_card"  # bind and charge the customer's debit cards
    DEVICE_USAGE = "device_usage"  # keep device usage telemetry and use it for credit scoring
    FUND = "fund"  # sell the customer units of a money-market fund (subscriptions; redeeming never needs it)
    CREDIT_BUREAU = "credit_bureau"  # ask a licensed credit bureau for the customer's report


class ConsentRequired(DomainError):
    status = 403
    type = "consent_error"

    def __init__(self, kind: ConsentKind) -> None:
        super().__init__(
            "consent_required",
            f"The customer has not given (or has withdrawn) the '{kind.value}' consent this needs.",
            "customer",
        )
