"""The API's response schemas read only what the services' read models hold. Marshmallow leaves
out a key whose attribute is missing instead of failing, so a field dropped from a read model
would silently vanish from the JSON: this checks every schema field against its read model."""
from __future__ import annotations

import dataclasses
import typing
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from marshmallow import Schema, fields

from gateway.entrypoints.api.device_schemas import DeviceEnrolled, DeviceOut
from gateway.entrypoints.api.installment_schemas import DeviceTokenOut, InstallmentOut, PlanOut, ProductOut
from gateway.entrypoints.api.schemas import BankOut, ConsentOut, CustomerOut, PaymentOut, RefundOut, SavedCardOut, TokenOut
from gateway.entrypoints.api.webhook_schemas import EventDetailOut, EventOut, WebhookDeliveryOut, WebhookEndpointOut
from gateway.services import read_models as views

RESPONSES = [
    (PaymentOut, views.PaymentView),
    (RefundOut, views.RefundView),
    (TokenOut, views.CardTokenView),
    (CustomerOut, views.CustomerView),
    (ConsentOut, views.ConsentView),
    (SavedCardOut, views.SavedCardView),
    (BankOut, views.BankView),
    (WebhookEndpointOut, views.WebhookEndpointView),
    (EventOut, views.EventView),
    (EventDetailOut, views.EventDetail),
    (WebhookDeliveryOut, views.DeliveryView),
    (DeviceOut, views.DeviceView),
    (DeviceEnrolled, views.EnrolledDevice),
    (DeviceTokenOut, views.DeviceTokenView),
    (ProductOut, views.ProductView),
    (InstallmentOut, views.InstallmentView),
    (PlanOut, views.PlanView),
]


def _field_types(view: type) -> dict[str, object]:
    return typing.get_type_hints(view, vars(views))


def _resolve(view: type, path: str) -> object:
    """The type at a dotted attribute path of a read model; KeyError when a step is missing."""
    kind: object = view
    for step in path.split("."):
        kind = _field_types(kind)[step]  # type: ignore[arg-type]
    return kind


def _read_paths(schema: type[Schema]) -> list[str]:
    """The attribute paths the schema's plain fields read (constants and computed fields aside)."""
    return [
        field.attribute or name
        for name, field in schema().fields.items()
        if not field.load_only and not isinstance(field, (fields.Constant, fields.Function))
    ]


@pytest.mark.parametrize(("schema", "view"), RESPONSES, ids=[schema.__name__ for schema, _ in RESPONSES])
def test_every_field_a_response_shows_is_on_its_read_model(schema, view):
    missing = []
    for path in _read_paths(schema):
        try:
            _resolve(view, path)
        except KeyError:
            missing.append(path)
    assert missing == [], f"{schema.__name__} reads {missing}, which {view.__name__} lacks"


@pytest.mark.parametrize(("schema", "view"), RESPONSES, ids=[schema.__name__ for schema, _ in RESPONSES])
def test_read_models_are_frozen_snapshots(schema, view):
    assert dataclasses.is_dataclass(view) and view.__dataclass_params__.frozen


class _Row:
    """Stands in for an ORM row: attributes only (plus ones no read model copies)."""

    def __init__(self, **columns) -> None:
        self.__dict__.update(columns)


def test_a_payment_read_model_dumps_as_the_row_did():
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    row = _Row(
        id="pay_1", merchant_id="mer_1", amount=1200, currency="CNY", status="succeeded", capture_method="automatic",
        amount_capturable=0, amount_received=1200, amount_refunded=0, card_token_id="tok_1", saved_card_id=None,
        wallet_provider=None, customer_id=None, card_brand="unionpay", card_bank="ICBC", card_last4="0005",
        next_action=None, flagged_reason=None, failure_code=None, failure_message=None, description="tea",
        metadata_={"order": "42"}, created_at=created, connector="sandbox_big_four", connector_reference="ref",
    )
    shown = PaymentOut().dump(views.PaymentView.from_row(row))
    assert shown["metadata"] == {"order": "42"} and shown["payment_method"] == "tok_1"
    assert shown["card"] == {"brand": "unionpay", "bank": "ICBC", "last4": "0005"}
    assert shown["created"] == int(created.timestamp())
    assert "connector" not in shown and "merchant_id" not in shown
    assert not hasattr(views.PaymentView.from_row(row), "connector_reference")  # internals stay behind


def test_a_product_keeps_its_rates_exact():
    row = _Row(id="ipr_1", name="phones", terms=[3, 6], method="equal_principal", apr=Decimal("12.500"),
               fee_rate=Decimal("0"), down_payment_share=Decimal("0.1000"), min_amount=100_00, max_amount=50_000_00,
               grace_days=5, late_fee_fixed=20_00, late_fee_rate=Decimal("0"), late_fee_cap=200_00, cooling_off_days=7)
    assert ProductOut().dump(views.ProductView.from_row(row))["apr"] == "12.500"
