"""The deployment's device CA: certificates for devices, the broker and the gateway, revocation, CRL.

One directory (settings.pki_dir, `certs/ca` by default; git-ignored) holds the CA:

    ca.key.pem ca.cert.pem      the CA (the key is created 0600 and never leaves this directory)
    index.json                  every certificate issued: serial, CN, expiry, revocation time
    crl.pem                     the current CRL (the broker reads it; re-publish before it expires)
    broker.{key,cert}.pem       the broker's TLS server identity
    gateway.{key,cert}.pem      the gateway's client identity (ingest, command relay)

A device's certificate carries CN = its device id, whatever its CSR asked for: the CSR only proves
that the device holds the key. Writers take a file lock, so API workers and the CLI can share it.
In production the CA key belongs in an HSM or KMS; this module is the seam for that.
"""
from __future__ import annotations

import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEVICE_CERT_DAYS = 397
SERVICE_CERT_DAYS = 397
CA_DAYS = 3650
CRL_DAYS = 30


class PkiError(Exception):
    """The CA is missing, already exists, or was asked to sign something it must not."""


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def serial_hex(self) -> str:
        return format(self.certificate.serial_number, "x")

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def new_private_key() -> ec.EllipticCurvePrivateKey:
    # P-256: what every TLS stack and MQTT broker in the field accepts for client certificates.
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def write_private(path: Path, data: bytes) -> None:
    """Create a file readable by its owner only (the mode is set before any byte is written)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CertificateAuthority:
    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self.directory = Path(directory)
        self._key = key
        self.certificate = certificate

    # ---- files ----

    @property
    def cert_path(self) -> Path:
        return self.directory / "ca.cert.pem"

    @property
    def crl_path(self) -> Path:
        return self.directory / "crl.pem"

    @property
    def index_path(self) -> Path:
        return self.directory / "index.json"

    def service_paths(self, name: str) -> tuple[Path, Path]:
        """(certificate, key) paths of a service identity: 'broker' or 'gateway'."""
        return self.directory / f"{name}.cert.pem", self.directory / f"{name}.key.pem"

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    # ---- creating and opening ----

    @classmethod
    def create(cls, directory: Path, name: str = "paygate device CA") -> CertificateAuthority:
        directory = Path(directory)
        if (directory / "ca.key.pem").exists():
            raise PkiError(f"a CA already exists in {directory}")
        directory.mkdir(parents=True, exist_ok=True)
        key = new_private_key()
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "paygate"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(directory / "ca.key.pem", private_key_pem(key))
        (directory / "ca.cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        ca = cls(directory, key, certificate)
        with ca._locked_index() as index:
            index.setdefault("issued", {})
        ca.publish_crl()
        return ca

    @classmethod
    def open(cls, directory: Path) -> CertificateAuthority:
        directory = Path(directory)
        try:
            key = serialization.load_pem_private_key((directory / "ca.key.pem").read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate((directory / "ca.cert.pem").read_bytes())
        except FileNotFoundError as exc:
            raise PkiError(f"no CA in {directory}: run `paygate certs init`") from exc
        return cls(directory, key, certificate)

    # ---- issuing ----

    def sign_device_csr(self, csr_pem: str | bytes, device_id: str, days: int = DEVICE_CERT_DAYS) -> Issued:
        """A client certificate with CN = device_id for the key in the CSR (its signature checked)."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
        except ValueError as exc:
            raise PkiError("the CSR is not a PEM certificate signing request") from exc
        if not csr.is_signature_valid:
            raise PkiError("the CSR's signature does not verify: it was not made with its key")
        if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey) or csr.public_key().curve.name != "secp256r1":
            raise PkiError("device TLS keys must be P-256")
        return self._issue(device_id, csr.public_key(), days, client=True)

    def issue_service(self, name: str, common_name: str, server_names: tuple[str, ...] = ()) -> Issued:
        """Make a key and certificate for a service ('broker' with server names, 'gateway' as a
        client) and write both next to the CA."""
        key = new_private_key()
        issued = self._issue(common_name, key.public_key(), SERVICE_CERT_DAYS, client=not server_names,
                             server_names=server_names)
        cert_path, key_path = self.service_paths(name)
        write_private(key_path, private_key_pem(key))
        cert_path.write_text(issued.pem)
        return issued

    def _issue(self, common_name: str, public_key, days: int, *, client: bool,
               server_names: tuple[str, ...] = ()) -> Issued:
        now = _now()
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if server_names:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in server_names]),
                                            critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        with self._locked_index() as index:
            index["issued"][format(certificate.serial_number, "x")] = {
                "cn": common_name, "not_after": certificate.not_valid_after_utc.isoformat(), "revoked_at": None}
        return Issued(certificate)

    # ---- revocation ----

    def revoke(self, serial_hex: str) -> bool:
        """Revoke one certificate and re-publish the CRL; False if it was revoked already."""
        with self._locked_index() as index:
            entry = index["issued"].get(serial_hex.lower())
            if entry is None:
                raise PkiError(f"no certificate with serial {serial_hex} was issued by this CA")
            if entry["revoked_at"]:
                return False
            entry["revoked_at"] = _now().isoformat()
        self.publish_crl()
        return True

    def revoke_common_name(self, common_name: str) -> list[str]:
        """Revoke every live certificate issued to `common_name`; the serials revoked."""
        serials = [serial for serial, entry in self.issued().items()
                   if entry["cn"] == common_name and not entry["revoked_at"]]
        for serial in serials:
            self.revoke(serial)
        return serials

    def issued(self) -> dict[str, dict]:
        with self._locked_index() as index:
            return dict(index["issued"])

    def publish_crl(self, days: int = CRL_DAYS) -> Path:
        """Write crl.pem listing every revoked certificate. Brokers refuse every client once the
        CRL's next update has passed, so run this (`paygate certs crl`) well within `days`."""
        now = _now()
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.certificate.subject)
                   .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=days)))
        for serial, entry in self.issued().items():
            if entry["revoked_at"]:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(int(serial, 16))
                    .revocation_date(datetime.fromisoformat(entry["revoked_at"])).build())
        crl = builder.sign(self._key, hashes.SHA256())
        temporary = self.crl_path.with_suffix(".tmp")
        temporary.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        os.replace(temporary, self.crl_path)  # a broker reading it never sees half a file
        return self.crl_path

    @contextmanager
    def _locked_index(self) -> Iterator[dict]:
        with open(self.directory / "index.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                index = json.loads(self.index_path.read_text()) if self.index_path.exists() else {"issued": {}}
                before = json.dumps(index, sort_keys=True)
                yield index
                if json.dumps(index, sort_keys=True) != before:
                    temporary = self.index_path.with_suffix(".tmp")
                    temporary.write_text(json.dumps(index, indent=1, sort_keys=True))
                    os.replace(temporary, self.index_path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)

