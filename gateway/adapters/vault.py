"""Encryption of card and identity data: AES-256-GCM under versioned keys, plus a keyed
HMAC index so a value can be found without decrypting anything.

Ciphertext format: "<key version>.<base64url(nonce || ciphertext+tag)>". The record's id is the
associated data, so a ciphertext copied onto another row does not decrypt.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)


class VaultError(Exception):
    pass


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


@dataclass
class Vault:
    keys: dict[str, bytes]  # version -> 32-byte AES key
    active: str
    index_key: bytes

    def encrypt(self, plaintext: bytes, associated: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext, associated.encode())
        return f"{self.active}.{_b64e(nonce + sealed)}"

    def decrypt(self, ciphertext: str, associated: str) -> bytes:
        version, _, body = ciphertext.partition(".")
        key = self.keys.get(version)
        if key is None:
            raise VaultError(f"no key for version {version!r}")
        raw = _b64d(body)
        return AESGCM(key).decrypt(raw[:12], raw[12:], associated.encode())

    def is_current(self, ciphertext: str) -> bool:
        return ciphertext.partition(".")[0] == self.active

    def new_data_key(self, owner_id: str) -> tuple[DataKey, str]:
        """A fresh per-owner data key and its wrapped (encrypted) form to store. Destroying the
        wrapped key erases everything sealed with it (crypto-shredding)."""
        key = AESGCM.generate_key(bit_length=256)
        return DataKey(key, owner_id), self.encrypt(key, associated=f"data-key:{owner_id}")

    def data_key(self, owner_id: str, wrapped: str | None) -> DataKey:
        if wrapped is None:
            raise VaultError(f"the data key of {owner_id} was destroyed")
        return DataKey(self.decrypt(wrapped, associated=f"data-key:{owner_id}"), owner_id)

    def derive_secret(self, purpose: str) -> bytes:
        """A 32-byte secret for one purpose (e.g. a sandbox bank's signing key), derived from the
        index key so that every process of a deployment agrees on it without more configuration."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(self.index_key)

    def index(self, purpose: str, value: str) -> str:
        """A stable keyed hash for lookups (API keys, card numbers). Not reversible without the key."""
        return hmac.new(self.index_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class DataKey:
    """One owner's data key: seals that owner's fields, each bound to its owner and field name."""

    key: bytes
    owner_id: str

    def seal(self, field: str, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.key).encrypt(nonce, plaintext.encode(), f"{self.owner_id}:{field}".encode())
        return _b64e(nonce + sealed)

    def open(self, field: str, ciphertext: str) -> str:
        raw = _b64d(ciphertext)
        return AESGCM(self.key).decrypt(raw[:12], raw[12:], f"{self.owner_id}:{field}".encode()).decode()

    def __repr__(self) -> str:
        return f"DataKey(owner_id={self.owner_id!r})"


# Key material comes from the environment in real deployments:
#   PAYGATE_VAULT_KEYS="v1:<base64 32 bytes>,v2:<...>" (the last one encrypts; all decrypt)
#   PAYGATE_INDEX_KEY="<base64 32 bytes>"
# For development, a key file under ./var is generated on first run and never committed.


def new_production_keys() -> dict[str, str]:
    """Fresh PAYGATE_VAULT_KEYS and PAYGATE_INDEX_KEY values for a secret store."""
    return {"PAYGATE_VAULT_KEYS": f"v1:{_b64e(secrets.token_bytes(32))}", "PAYGATE_INDEX_KEY": _b64e(secrets.token_bytes(32))}


def parse_key_list(text: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        version, sep, encoded = item.partition(":")
        key = _b64d(encoded) if sep else b""
        if len(key) != 32:
            raise VaultError(f"vault key {version!r} must be 32 bytes of base64")
        keys[version] = key
    if not keys:
        raise VaultError("PAYGATE_VAULT_KEYS names no key")
    return keys


def vault_from_env(env: dict[str, str], dev_key_file: Path) -> Vault:
    if env.get("PAYGATE_VAULT_KEYS"):
        keys = parse_key_list(env["PAYGATE_VAULT_KEYS"])
        index_key = _b64d(env.get("PAYGATE_INDEX_KEY", ""))
        if len(index_key) != 32:
            raise VaultError("PAYGATE_INDEX_KEY must be 32 bytes of base64 when PAYGATE_VAULT_KEYS is set")
        return Vault(keys, active=list(keys)[-1], index_key=index_key)
    return DevKeyFile(dev_key_file).load_or_create()


class DevKeyFile:
    """Development key material in a local file (mode 0600), created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load_or_create(self) -> Vault:
        if not self.path.exists() and self._create({"keys": {"v1": _b64e(secrets.token_bytes(32))}, "index_key": _b64e(secrets.token_bytes(32))}):
            log.warning("generated development vault keys in %s (set PAYGATE_VAULT_KEYS in production)", self.path)
        data = json.loads(self.path.read_text())
        keys = {version: _b64d(value) for version, value in data["keys"].items()}
        return Vault(keys, active=list(keys)[-1], index_key=_b64d(data["index_key"]))

    def add_key(self) -> str:
        data = json.loads(self.path.read_text())
        version = f"v{len(data['keys']) + 1}"
        data["keys"][version] = _b64e(secrets.token_bytes(32))
        self._write(data)
        return version

    def _create(self, data: dict) -> bool:
        """Publish a complete key file only if none exists: several processes starting at once
        (gunicorn workers) must all end up with the same keys, never a half-written file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        draft = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, self.path)  # atomic, and fails if another process got there first
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(draft)

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
