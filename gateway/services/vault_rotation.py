"""Key rotation: re-encrypt stored ciphertexts under the vault's active key, in batches."""
from __future__ import annotations

from sqlalchemy import select

from gateway.adapters.db.models import CardToken
from gateway.services.context import Gateway

BATCH = 500


def reencrypt_all(gw: Gateway) -> int:
    changed = 0
    last_id = ""
    while True:
        with gw.db.unit_of_work() as session:
            batch = list(
                session.execute(
                    select(CardToken).where(CardToken.id > last_id).order_by(CardToken.id).limit(BATCH).with_for_update()
                ).scalars()
            )
            for token in batch:
                if not gw.vault.is_current(token.card_ciphertext):
                    plaintext = gw.vault.decrypt(token.card_ciphertext, associated=token.id)
                    token.card_ciphertext = gw.vault.encrypt(plaintext, associated=token.id)
                    changed += 1
        if len(batch) < BATCH:
            return changed
        last_id = batch[-1].id
