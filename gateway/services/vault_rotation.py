"""Key rotation: re-encrypt what the vault key protects under the active key, in batches. Card
tokens hold their card under the vault key; customers hold only their wrapped data key (their
fields stay sealed with it, so rotation never touches personal data); webhook signing secrets and
devices' OpenPAYGO secrets are sealed by it too. Sealed idempotency replays (enrollment answers)
live 24 hours: keep a retired key in PAYGATE_VAULT_KEYS for a day after rotating."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from gateway.adapters.db.installment_models import DevicePaygCredential
from gateway.adapters.db.models import CardToken, Customer
from gateway.adapters.db.webhook_models import WebhookEndpoint
from gateway.services.ports import VaultPorts

BATCH = 500

# model, key column, ciphertext attribute, associated data for a row
PROTECTED = (
    (CardToken, CardToken.id, "card_ciphertext", lambda row: row.id),
    (Customer, Customer.id, "data_key", lambda row: f"data-key:{row.id}"),
    (WebhookEndpoint, WebhookEndpoint.id, "secret_ciphertext", lambda row: row.id),
    (DevicePaygCredential, DevicePaygCredential.device_id, "secret_sealed", lambda row: f"payg:{row.device_id}"),
)


def reencrypt_all(gw: VaultPorts, advance: Callable[[int], None] | None = None) -> int:
    """Re-encrypt every row not under the active key; `advance(n)` hears of each batch checked."""
    return sum(_reencrypt(gw, *spec, advance=advance) for spec in PROTECTED)


def protected_rows(gw: VaultPorts) -> int:
    """How many rows reencrypt_all looks at (for a progress bar)."""
    with gw.db.unit_of_work() as session:
        return sum(session.execute(select(func.count()).select_from(model)).scalar_one() for model, *_ in PROTECTED)


def _reencrypt(gw: VaultPorts, model, key_column, attribute: str, associated, advance: Callable[[int], None] | None = None) -> int:
    changed = 0
    last_id = ""
    while True:
        with gw.db.unit_of_work() as session:
            batch = list(
                session.execute(select(model).where(key_column > last_id).order_by(key_column).limit(BATCH).with_for_update()).scalars()
            )
            for row in batch:
                ciphertext = getattr(row, attribute)
                if ciphertext is not None and not gw.vault.is_current(ciphertext):
                    plaintext = gw.vault.decrypt(ciphertext, associated=associated(row))
                    setattr(row, attribute, gw.vault.encrypt(plaintext, associated=associated(row)))
                    changed += 1
        if advance is not None:
            advance(len(batch))
        if len(batch) < BATCH:
            return changed
        last_id = getattr(batch[-1], key_column.key)
