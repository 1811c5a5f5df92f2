"""Public object ids: a type prefix and 24 base62 characters from 144 random bits (about 143
bits of them kept)."""
from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    # One call to the OS's random source per id, not one per character: ids are made by the
    # thousand in batch collections.
    number = int.from_bytes(secrets.token_bytes(18), "big")
    characters = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        characters.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(characters)
