"""OpenPAYGO Token, through the `openpaygo` package: the same algorithm the device decodes with.

ADD_TIME tokens add whole days of use (at most 995 per token); DISABLE_PAYG unlocks a device for
good; COUNTER_SYNC re-aligns a device whose token count fell behind. Each token uses the next
count, so the device refuses it a second time."""
from __future__ import annotations

import secrets

from openpaygo import OpenPAYGOTokenEncoder, TokenType
from openpaygo.token_shared import OpenPAYGOTokenShared

MAX_DAYS_PER_TOKEN = OpenPAYGOTokenShared.MAX_ACTIVATION_VALUE

KINDS = {"add_time": TokenType.ADD_TIME, "disable_payg": TokenType.DISABLE_PAYG, "counter_sync": TokenType.COUNTER_SYNC}


def new_secret() -> tuple[str, int]:
    """A device's 16-byte secret key (hex) and its starting code."""
    secret_hex = secrets.token_hex(16)
    return secret_hex, OpenPAYGOTokenShared.generate_starting_code(OpenPAYGOTokenShared.load_secret_key_from_hex(secret_hex))


def generate(secret_hex: str, starting_code: int, last_count: int, kind: str, days: int = 0) -> tuple[int, str]:
    """(the count this token used, the 9-digit token)."""
    value = days if kind == "add_time" else None
    return OpenPAYGOTokenEncoder.generate_token(
        secret_key=secret_hex, count=last_count, value=value, token_type=KINDS[kind], starting_code=starting_code
    )
