"""Public object ids and secrets: a type prefix and base62 characters, each drawn uniformly at
random, so an id of n characters carries n x log2(62) (about 5.95) bits: 143 bits for the
default 24, 190 for a 32-character webhook signing secret.

>>> payment_id = new_id("pay")
>>> payment_id.startswith("pay_"), len(payment_id) == len("pay_") + 24
(True, True)
>>> len(new_id("whsec", 32)) == len("whsec_") + 32
True
>>> set(new_id("x", 1000)[2:]) <= set(ALPHABET)
True
"""
from __future__ import annotations

import secrets
import string

ALPHABET = string.ascii_letters + string.digits
_BASE = len(ALPHABET)
# Rejection sampling on random bytes: a byte below 248 (4 x 62) names the character byte % 62,
# exactly uniformly; the 8 bytes above are dropped. bytes.translate does both for a whole buffer
# in C, so an id costs one call to the OS's random source and no Python loop per character
# (ids are made by the thousand in batch collections).
_USABLE_BYTES = 256 - 256 % _BASE
_BYTE_TO_CHARACTER = bytes(ord(ALPHABET[value % _BASE]) for value in range(256))
_DROPPED_BYTES = bytes(range(_USABLE_BYTES, 256))
# Bytes drawn beyond the length: with 1 byte in 32 dropped, 8 spare leave a shortfall (and a
# second draw) about once in a million ids.
_SPARE_BYTES = 8


def new_id(prefix: str, length: int = 24) -> str:
    characters = b""
    while len(characters) < length:
        wanted = length - len(characters)
        characters += secrets.token_bytes(wanted + wanted // 16 + _SPARE_BYTES).translate(_BYTE_TO_CHARACTER, _DROPPED_BYTES)
    return f"{prefix}_" + characters[:length].decode("ascii")
