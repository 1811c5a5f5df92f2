"""Test mode only (PAYGATE_SANDBOX_ENDPOINTS=1): the sandbox clock, and the sandbox bank's callback
on demand. Without the setting these routes do not exist (404) and the clock is the system clock."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.schemas import PaymentOut, StrictBoolean
from gateway.domain.errors import NotFound
from gateway.services import sandbox

blp = ApiBlueprint("sandbox_clock", __name__, url_prefix="/v1/sandbox", description="Test mode only: the sandbox clock, the sandbox bank's callbacks.")


class ClockMove(Schema):
    advance_to = fields.AwareDateTime(
        default_timezone=None,
        metadata={"description": "ISO 8601 time with its offset, e.g. 2027-01-05T10:00:00+08:00; never before the clock's time."},
    )
    reset = StrictBoolean(metadata={"description": "true: back to real time (the only way back)."})

    @validates_schema
    def one_move(self, data, **_kwargs):
        if ("advance_to" in data) == bool(data.get("reset")):
            raise ValidationError("Send either advance_to or reset: true.", "advance_to")


class ClockOut(Schema):
    object = fields.Constant("sandbox_clock")
    now = fields.AwareDateTime(metadata={"description": "The time every process of this deployment sees."})
    offset_seconds = fields.Method("whole_seconds", metadata={"description": "How far the clock is ahead of real time."})

    def whole_seconds(self, view) -> int:
        return int(view.offset.total_seconds())


@blp.route("/clock", methods=["GET"])
@blp.response(200, ClockOut)
def show_clock():
    """The sandbox clock: the time due dates, grace periods, retries and webhooks follow."""
    require_key()
    return sandbox.show_clock(_sandbox_clock())


@blp.route("/clock", methods=["POST"])
@blp.arguments(ClockMove)
@blp.response(200, ClockOut)
def move_clock(body):
    """Move the deployment's time forward (`advance_to`), or back to real time (`reset`). Time
    keeps flowing from where it is set, in every process (API, workers, ingest). Moving back with
    `advance_to` is refused (400 clock_cannot_go_back): time never runs back for money."""
    require_key()
    clock = _sandbox_clock()
    return sandbox.reset_clock(clock) if body.get("reset") else sandbox.advance_clock(clock, body["advance_to"])


def _sandbox_clock():
    clock = gateway().sandbox_clock
    if clock is None:  # a gateway assembled by hand, without Gateway.from_settings
        raise NotFound("sandbox clock", "clock")
    return clock


@blp.route("/payments/<payment_id>/bank_callback", methods=["POST"])
@blp.response(200, PaymentOut)
def bank_callback_now(payment_id):
    """The sandbox bank sends its signed callback about this debit now (banks that answer
    asynchronously send it in their own time); it goes through the same checks as any callback."""
    require_key()
    return sandbox.bank_sends_callback(gateway(), principal().merchant_id, payment_id)
