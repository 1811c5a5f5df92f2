"""The national banks the gateway reaches, as a merchant sees them."""
from __future__ import annotations

from gateway.domain.banks import NATIONAL_BANKS
from gateway.services.ports import Connectors
from gateway.services.read_models import BankView


def list_banks(gw: Connectors) -> list[BankView]:
    """Every national bank with its BINs, quick-pay limits and the connector that reaches it."""
    return [
        BankView(
            code=bank.code,
            cnaps=bank.cnaps,
            name=bank.name,
            bins=bank.bins,
            connector=gw.connector_for_bank(bank).name,
            per_transaction_limit=bank.per_transaction_limit,
            per_day_limit=bank.per_day_limit,
        )
        for bank in NATIONAL_BANKS
    ]
