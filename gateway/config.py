"""Settings from the environment (PAYGATE_*), overridable by a dict for tests and tools.

Every field is read from PAYGATE_<FIELD NAME IN CAPITALS>; docs/operations.md lists them all."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    # Empty: the embedded default, a SQLite file in var_dir.
    database_url: str = ""
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    # The home of every local file: the default SQLite database, the development vault keys, the
    # demo's PKI and devices, settlement files, gunicorn's metrics directory.
    var_dir: Path = Path("var")
    # Merchant discount rate taken from every capture unless a merchant has its own.
    default_discount_rate: Decimal = Decimal("0.006")
    # The sandbox bank's simulated network latency per call.
    sandbox_latency_ms: int = 20
    # How long a retried request waits for the first one with the same Idempotency-Key to finish
    # before it is answered 409.
    idempotency_wait_seconds: float = 5.0
    # How long a request holds its Idempotency-Key; past it, a retry takes over a dead request's key.
    idempotency_lease_seconds: float = 30.0
    # Test mode: endpoints under /v1/sandbox (the SMS code a sandbox bank "sent", the wallet app's
    # confirmation) and webhooks to loopback/private addresses. Off unless asked for (the demo and
    # the tests turn it on), so a deployment that forgets the setting is not open to either.
    sandbox_endpoints: bool = False
    # Tests of crash recovery only, and only with sandbox_endpoints on: the step of a payment at
    # which the process dies as under `kill -9` (creating_payment, payment_created, bank_answered,
    # settled; see gateway/services/payments.py `fault_point`).
    fault_at: str = ""
    # Installment credit a customer may have outstanding across plans, in fen (CNY 30,000): the
    # limit of customers never scored. Scored ones get their band's limit from the policy,
    # `band:lowest score:limit in fen`, best band first (gateway/domain/credit/limits.py).
    installment_credit_limit: int = 3_000_000
    credit_limit_policy: str = "A:660:5000000,B:620:3000000,C:580:1500000,D:540:800000,E:0:300000"
    # Raw telemetry older than this is deleted by the maintenance worker once its day is aggregated.
    telemetry_retention_days: int = 90
    max_body_bytes: int = 64 * 1024
    db_pool_size: int = 5
    # Devices and MQTT: the deployment's CA directory (private key git-ignored), the broker
    # address handed to devices at enrollment, and how far a device's clock may run ahead of ours /
    # how old a buffered message may be (the dedupe records are kept at least that long).
    pki_dir: Path = Path("certs/ca")
    device_broker_url: str = "mqtts://127.0.0.1:8883"
    device_clock_skew_seconds: int = 300
    device_max_message_age_seconds: int = 7 * 24 * 3600
    confirmation_ttl_seconds: int = 120
    # Rate limits ("N per period"): failed authentications per client address and per presented
    # key prefix, card tokenizations per publishable key. Counters in Redis when redis_url is set
    # (shared by every process), else in each process's memory.
    redis_url: str = ""
    rate_limit_failed_auth_per_address: str = "30 per minute"
    rate_limit_failed_auth_per_key_prefix: str = "30 per minute"
    rate_limit_tokenization: str = "120 per minute"
    rate_limit_namespace: str = "paygate"
    # Failed dashboard sign-ins per account (the e-mail typed) and per client address.
    rate_limit_sign_in_per_account: str = "5 per 15 minutes"
    rate_limit_sign_in_per_address: str = "20 per 15 minutes"
    # Webhooks: per-call time-out and deliveries claimed at a time by the `webhooks` queue, and
    # whether endpoints may be loopback/private addresses (unset: only in test mode).
    webhook_timeout_seconds: float = 10.0
    webhook_batch: int = 10
    webhook_allow_private_networks: bool | None = None
    # Log lines: "json" (one object per line, for a log pipeline) or "console" (for humans).
    log_format: str = "json"
    log_level: str = "INFO"
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, overrides: dict | None = None) -> Settings:
        env = with_secret_files(dict(os.environ))
        values: dict = {}
        for spec in fields(cls):
            if spec.name == "env":
                continue
            raw = env.get(f"PAYGATE_{spec.name.upper()}")
            if raw is not None:
                values[spec.name] = _convert(spec.name, raw)
        for name, value in (overrides or {}).items():
            values[name.lower()] = _convert(name.lower(), value) if isinstance(value, str) else value
        return cls(env=env, **values)

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.var_dir / 'paygate.db'}")

    @property
    def vault_key_file(self) -> Path:
        return self.var_dir / "dev-vault-keys.json"

    @property
    def trading_calendar_file(self) -> Path:
        """The operator's trading-day overrides (gateway/adapters/trading_calendar.py)."""
        return self.var_dir / "trading_calendar.txt"


def _truthy(raw: str) -> bool:
    return raw.strip().lower() not in ("0", "false", "no", "off", "")
def with_secret_files(env: dict[str, str]) -> dict[str, str]:
    """PAYGATE_X_FILE=/run/secrets/x makes the file's content PAYGATE_X (Docker and Kubernetes
    secrets), unless PAYGATE_X itself is set.

    >>> import tempfile, pathlib
    >>> secret = pathlib.Path(tempfile.mkdtemp()) / "keys"
    >>> _ = secret.write_text("v1:abc\\n")
    >>> with_secret_files({"PAYGATE_VAULT_KEYS_FILE": str(secret)})["PAYGATE_VAULT_KEYS"]
    'v1:abc'
    """
    for name, path in list(env.items()):
        target = name.removesuffix("_FILE")
        if name.startswith("PAYGATE_") and target != name and path and not env.get(target):
            env[target] = Path(path).read_text().strip()
    return env


_TYPES = {
    "var_dir": Path,
    "default_discount_rate": Decimal,
    "sandbox_latency_ms": int,
    "idempotency_wait_seconds": float,
    "idempotency_lease_seconds": float,
    "max_body_bytes": int,
    "installment_credit_limit": int,
    "db_pool_size": int,
    "sandbox_endpoints": _truthy,
    "pki_dir": Path,
    "device_clock_skew_seconds": int,
    "device_max_message_age_seconds": int,
    "confirmation_ttl_seconds": int,
    "webhook_timeout_seconds": float,
    "webhook_batch": int,
    "webhook_allow_private_networks": lambda raw: None if not raw.strip() else _truthy(raw),
    "log_format": lambda raw: raw.strip().lower(),
    "log_level": lambda raw: raw.strip().upper(),
    "telemetry_retention_days": int,
}


def _convert(name: str, raw: str):
    return _TYPES.get(name, str)(raw)
