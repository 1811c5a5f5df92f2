"""The device protocol on the wire: topics, the signed envelope and command messages.

Envelope: COSE_Sign1 (RFC 9052, CBOR tag 18) with EdDSA (Ed25519, alg -8) or ES256 (P-256, alg -7).

    COSE_Sign1 = [protected: bstr .cbor {1: alg, 4: kid = device id (UTF-8)}, unprotected: {},
                  payload: bstr .cbor {"dev": device id, "seq": uint, "ts": unix ms, "typ": str,
                                       "body": map}, signature: bstr]
    signature over Sig_structure = ["Signature1", protected, external_aad = h'', payload]

The key id sits in the protected header so it is covered by the signature. Any COSE library (or a
dozen lines of cbor2 + cryptography, see tests/unit/test_wire.py) verifies these messages.

This module is shared by the agent (which signs) and the gateway (which verifies), and imports
nothing from the gateway, so the agent can ship on its own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

COSE_SIGN1_TAG = 18
HEADER_ALG, HEADER_KID = 1, 4
ALG_EDDSA, ALG_ES256 = -8, -7
ALGORITHMS = {"EdDSA": ALG_EDDSA, "ES256": ALG_ES256}
MAX_ENVELOPE_BYTES = 16 * 1024

TELEMETRY, CONFIRMATION = "telemetry", "confirmation"
TOPIC = re.compile(r"^devices/([^/+#]{1,64})/(telemetry|confirmations|commands)$")
MESSAGE_KIND_BY_TOPIC = {"telemetry": TELEMETRY, "confirmations": CONFIRMATION}


def telemetry_topic(device_id: str) -> str:
    return f"devices/{device_id}/telemetry"


def confirmations_topic(device_id: str) -> str:
    return f"devices/{device_id}/confirmations"


def commands_topic(device_id: str) -> str:
    return f"devices/{device_id}/commands"


def topic_for(kind: str, device_id: str) -> str:
    return telemetry_topic(device_id) if kind == TELEMETRY else confirmations_topic(device_id)


def parse_topic(topic: str) -> tuple[str, str] | None:
    """(device id, channel) for a device topic, None for anything else."""
    match = TOPIC.match(topic)
    return (match.group(1), match.group(2)) if match else None


class EnvelopeError(ValueError):
    """Bytes that are not a well-formed envelope of ours (never a signature failure)."""


SigningKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
VerifyingKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def algorithm_of(key: SigningKey | VerifyingKey) -> str:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "EdDSA"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and key.curve.name == "secp256r1":
        return "ES256"
    raise ValueError("signing keys are Ed25519 or P-256")


def load_public_key(pem: str | bytes) -> VerifyingKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    algorithm_of(key)  # rejects other key types
    return key


def public_key_pem(key: SigningKey | VerifyingKey) -> str:
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# ---- signing ----------------------------------------------------------------------------------

def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def _raw_sign(key: SigningKey, data: bytes) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    # COSE wants ES256 signatures as fixed-size r || s, not DER (RFC 9053, section 2.1).
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _raw_verify(key: VerifyingKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def seal(key: SigningKey, device_id: str, seq: int, ts_ms: int, kind: str, body: dict) -> bytes:
    """A signed COSE_Sign1 envelope carrying one message of `device_id`."""
    protected = cbor2.dumps({HEADER_ALG: ALGORITHMS[algorithm_of(key)], HEADER_KID: device_id.encode()})
    payload = cbor2.dumps({"dev": device_id, "seq": seq, "ts": ts_ms, "typ": kind, "body": body})
    signature = _raw_sign(key, _sig_structure(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


# ---- opening ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Envelope:
    """A parsed, not yet verified envelope."""

    algorithm: int
    key_id: str
    protected: bytes
    payload: bytes
    signature: bytes

    def verify(self, key: VerifyingKey) -> bool:
        if self.algorithm != ALGORITHMS[algorithm_of(key)]:
            return False  # never let the message choose the algorithm for a registered key
        return _raw_verify(key, self.signature, self.to_be_signed())

    def to_be_signed(self) -> bytes:
        """The Sig_structure bytes the signature covers (for verifiers other than verify())."""
        return _sig_structure(self.protected, self.payload)


@dataclass(frozen=True)
class Message:
    device_id: str
    seq: int
    ts_ms: int
    kind: str
    body: dict


def open_envelope(data: bytes) -> Envelope:
    """Parse the COSE_Sign1 structure; raise EnvelopeError for anything else."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError("not bytes, or too large")
    try:
        tagged = cbor2.loads(data, max_depth=16)
        if not isinstance(tagged, cbor2.CBORTag) or tagged.tag != COSE_SIGN1_TAG:
            raise EnvelopeError("not a COSE_Sign1 (tag 18)")
        protected, _unprotected, payload, signature = tagged.value
        if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
            raise EnvelopeError("COSE_Sign1 parts have the wrong types")
        headers = cbor2.loads(protected, max_depth=4)
        algorithm, key_id = headers[HEADER_ALG], headers[HEADER_KID].decode()
    except EnvelopeError:
        raise
    except Exception as exc:  # cbor2 raises many types on hostile input; all mean "malformed"
        raise EnvelopeError(f"malformed envelope: {type(exc).__name__}") from exc
    if algorithm not in ALGORITHMS.values():
        raise EnvelopeError(f"unsupported algorithm {algorithm!r}")
    return Envelope(algorithm, key_id, protected, payload, signature)


def read_payload(envelope: Envelope) -> Message:
    """The message inside a (verified) envelope; EnvelopeError if its shape is wrong."""
    try:
        fields = cbor2.loads(envelope.payload, max_depth=16)
        message = Message(fields["dev"], fields["seq"], fields["ts"], fields["typ"], dict(fields["body"]))
    except Exception as exc:
        raise EnvelopeError(f"malformed payload: {type(exc).__name__}") from exc
    if not (isinstance(message.device_id, str) and _is_uint(message.seq, 63) and _is_uint(message.ts_ms, 63)
            and message.kind in (TELEMETRY, CONFIRMATION)):
        raise EnvelopeError("payload fields have the wrong types")
    return message


def _is_uint(value, bits: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**bits


# ---- commands (gateway to device) ---------------------------------------------------------------

CONFIRMATION_REQUEST = "confirmation_request"
UNLOCK_TOKEN = "unlock_token"  # {"token", "kind", "days", "paid_until"}: an OpenPAYGO token to apply


def encode_command(kind: str, body: dict) -> bytes:
    return cbor2.dumps({"cmd": kind, "body": body})


def decode_command(data: bytes) -> tuple[str, dict]:
    try:
        fields = cbor2.loads(data, max_depth=8)
        return str(fields["cmd"]), dict(fields["body"])
    except Exception as exc:
        raise EnvelopeError(f"malformed command: {type(exc).__name__}") from exc
