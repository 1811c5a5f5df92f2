"""Keys made on the device and kept on it: a P-256 TLS key (its CSR goes to the gateway) and a
signing key (Ed25519 or P-256) for message envelopes. Private keys are written 0600 and only their
public halves ever leave the device."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from device_agents.wire import SigningKey


def new_tls_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_signing_key(algorithm: str = "EdDSA") -> SigningKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError("algorithm is EdDSA or ES256")


def csr_pem(tls_key: ec.EllipticCurvePrivateKey, name: str = "paygate device") -> str:
    """A CSR proving possession of the TLS key. The CA replaces the name with the device id."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .sign(tls_key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def save_private_key(path: Path, key) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def load_private_key(path: Path):
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
