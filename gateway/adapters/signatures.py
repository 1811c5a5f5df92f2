"""Verifying device envelope signatures on the gateway, fast and without holding the GIL.

Ingest spends most of its CPU on signature checks. `cryptography` verifies Ed25519 with OpenSSL
while holding the GIL, so the check also stalls paho's network thread, which must keep reading
the broker's socket. libsodium (through PyNaCl, PyCA's binding; cffi releases the GIL around every
C call) verifies Ed25519 about twice as fast here, and in parallel with that thread. It is also the
stricter of the two: it accepts a subset of what OpenSSL accepts (it refuses small-order keys and
R points and non-canonical encodings; honest signatures verify under both), so no check gets weaker.

P-256 (ES256) has no libsodium counterpart and stays on `cryptography`, which releases the GIL
around ECDSA checks too in its 2026 releases. Ingest checks each batch in parts on a pool of
threads sized to the cores (gateway.entrypoints.mqtt.ingest). libsodium has no batch verification
for Ed25519 (only one signature per call), and a batch equation would accept what a single check
refuses in corner cases, so each signature is checked on its own.

The agent side (`device_agents.wire`) keeps signing and verifying with `cryptography` alone, so
an agent ships without PyNaCl.
"""
from __future__ import annotations

from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from device_agents import wire

ED25519_SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class Ed25519Verifier:
    public_key: bytes  # the raw 32-byte key
    algorithm: int = wire.ALG_EDDSA

    def verify(self, envelope: wire.Envelope) -> bool:
        # Never let the message choose the algorithm for a registered key.
        if envelope.algorithm != self.algorithm:
            return False
        return self.verify_bytes(envelope.signature, envelope.to_be_signed())

    def verify_bytes(self, signature: bytes, data: bytes) -> bool:
        if len(signature) != ED25519_SIGNATURE_BYTES:
            return False
        try:
            # PyNaCl exposes the combined form only: signature || message.
            nacl.bindings.crypto_sign_open(signature + data, self.public_key)
        except nacl.exceptions.BadSignatureError:
            return False
        return True


@dataclass(frozen=True)
class CryptographyVerifier:
    """ES256 (and any other key type wire.py accepts): wire's own verification."""

    key: wire.VerifyingKey

    def verify(self, envelope: wire.Envelope) -> bool:
        return envelope.verify(self.key)


Verifier = Ed25519Verifier | CryptographyVerifier


def load_verifier(pem: str) -> Verifier:
    """The verifier for a registered public key (PEM SubjectPublicKeyInfo); ValueError if it is
    not a key type devices may use."""
    key = wire.load_public_key(pem)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return Ed25519Verifier(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    return CryptographyVerifier(key)
