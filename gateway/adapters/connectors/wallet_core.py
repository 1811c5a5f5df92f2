"""The simulator behind the sandbox wallet providers (alipay_like, wechat_like). A provider
takes an order and hands back a QR payload and a deep link; the shopper confirms in the app (a
sandbox endpoint stands in for it); the provider then notifies the gateway, signing with its own
private key, and answers status queries, close requests and refunds from its own books.

Each provider module supplies only what differs: its names, its signature algorithm and the wire
format of its notifies (`_encode_notify` / `parse_callback`)."""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from gateway.adapters.connectors.base import CallbackRejected, ChargeRequest, ConnectorResult, Notification, Outcome
from gateway.adapters.db.engine import Database
from gateway.adapters.db.models import SandboxProviderKey, SandboxWalletOrder
from gateway.adapters.db.upsert import insert_if_absent
from gateway.domain.clock import as_utc
from gateway.domain.ids import new_id

ORDER_LIFETIME = timedelta(minutes=15)
NOTIFY_TOLERANCE = timedelta(minutes=5)

# Provider order states, and what each one means for the payment.
ORDER_OUTCOMES = {
    "waiting": Outcome.ACTION_REQUIRED,
    "scanned": Outcome.PENDING,
    "paid": Outcome.APPROVED,
    "failed": Outcome.DECLINED,
    "closed": Outcome.DECLINED,
}


class SandboxWallet:
    name: str  # connector name, e.g. "sandbox_alipay"
    provider: str  # what merchants ask for, e.g. "alipay_like"

    def __init__(self, db: Database, clock: Callable[[], datetime], latency_ms: int = 0) -> None:
        self.db, self.clock = db, clock
        self.latency_s = latency_ms / 1000
        self._key = None

    # ---- the provider's API, as the gateway calls it ---------------------------------------

    def authorize(self, request: ChargeRequest) -> ConnectorResult:
        self._wait()
        expires_at = self.clock() + ORDER_LIFETIME
        trade_no = new_id("trade")
        with self.db.unit_of_work() as session:
            session.add(
                SandboxWalletOrder(
                    provider=self.name, payment_id=request.payment_id, trade_no=trade_no, amount=request.amount,
                    refunded=0, currency=request.currency, status="waiting", expires_at=expires_at,
                )
            )
        return ConnectorResult(Outcome.ACTION_REQUIRED, trade_no, action=self._action(trade_no, expires_at), expires_at=expires_at)

    def capture(self, reference: str, amount: int, currency: str) -> ConnectorResult:
        return ConnectorResult(Outcome.APPROVED, reference)  # wallet orders are captured when paid

    def void(self, payment_id: str, reference: str | None) -> ConnectorResult:
        """Close an unpaid order; a paid one cannot be closed."""
        self._wait()
        with self.db.unit_of_work() as session:
            order = self._order(session, payment_id, lock=True)
            if order is None:
                return ConnectorResult(Outcome.APPROVED, reference, message="no such order")
            if order.status == "paid":
                return ConnectorResult(Outcome.DECLINED, order.trade_no, "order_already_paid", "The order is already paid.")
            order.status = "closed"
        return ConnectorResult(Outcome.APPROVED, order.trade_no)

    def refund(self, reference: str, refund_id: str, amount: int, currency: str) -> ConnectorResult:
        self._wait()
        with self.db.unit_of_work() as session:
            order = session.execute(
                select(SandboxWalletOrder).where(SandboxWalletOrder.provider == self.name, SandboxWalletOrder.trade_no == reference).with_for_update()
            ).scalar_one_or_none()
            if order is None or order.status != "paid" or order.refunded + amount > order.amount:
                return ConnectorResult(Outcome.DECLINED, None, "refund_refused", "The provider refused the refund.")
            order.refunded += amount
        return ConnectorResult(Outcome.APPROVED, new_id("wrf"))

    def status(self, payment_id: str) -> ConnectorResult:
        self._wait()
        with self.db.unit_of_work() as session:
            order = self._order(session, payment_id)
        if order is None:
            return ConnectorResult(Outcome.DECLINED, None, "bank_no_record", "The provider has no such order.")
        code = {"failed": "wallet_payment_failed", "closed": "order_closed"}.get(order.status)
        return ConnectorResult(ORDER_OUTCOMES[order.status], order.trade_no, code)

    def refund_status(self, refund_id: str) -> ConnectorResult:
        return ConnectorResult(Outcome.APPROVED, refund_id)  # sandbox refunds settle at once

    # ---- the shopper's app (sandbox only) --------------------------------------------------

    def shopper_confirms(self, payment_id: str, approve: bool) -> list[tuple[bytes, dict[str, str]]]:
        """The shopper scans and confirms (or declines) in the app. Returns the signed notifies
        the provider sends the gateway: 'scanned', then 'paid' or 'failed'."""
        with self.db.unit_of_work() as session:
            order = self._order(session, payment_id, lock=True)
            if order is None or order.status not in ("waiting", "scanned"):
                return []
            if as_utc(order.expires_at) < self.clock():
                return []
            order.status = "paid" if approve else "failed"
        return [self.signed_notify(order, "scanned"), self.signed_notify(order, order.status)]

    def signed_notify(self, order: SandboxWalletOrder, status: str) -> tuple[bytes, dict[str, str]]:
        return self._encode_notify(
            notify_id=new_id("ntf"), payment_id=order.payment_id, trade_no=order.trade_no,
            amount=order.amount, currency=order.currency, status=status, sent_at=self.clock(),
        )

    def signed_notify_for(self, payment_id: str) -> tuple[bytes, dict[str, str]]:
        """The notify the provider would send now about an order (tests replay and forge these)."""
        with self.db.unit_of_work() as session:
            order = self._order(session, payment_id)
        return self.signed_notify(order, order.status)

    # ---- shared machinery ------------------------------------------------------------------

    def notification(self, payment_id: str, trade_no: str, amount: int, currency: str, status: str, notify_id: str, sent_at: datetime) -> Notification:
        if abs(self.clock() - as_utc(sent_at)) > NOTIFY_TOLERANCE:
            raise CallbackRejected("notify timestamp outside the tolerance window")
        if status not in ORDER_OUTCOMES:
            raise CallbackRejected(f"unknown order status {status!r}")
        code = {"failed": "wallet_payment_failed", "closed": "order_closed"}.get(status)
        return Notification(payment_id, amount, currency, ConnectorResult(ORDER_OUTCOMES[status], trade_no, code), notify_id)

    def private_key(self):
        """The provider's signing key, made once per deployment and shared by all processes."""
        if self._key is None:
            with self.db.unit_of_work() as session:
                insert_if_absent(session, SandboxProviderKey, ["provider"], provider=self.name, private_pem=self._new_key_pem())
                pem = session.get(SandboxProviderKey, self.name).private_pem
            self._key = serialization.load_pem_private_key(pem.encode(), password=None)
        return self._key

    def public_key(self):
        return self.private_key().public_key()

    def _new_key_pem(self) -> str:
        return self._generate_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def _order(self, session, payment_id: str, lock: bool = False) -> SandboxWalletOrder | None:
        query = select(SandboxWalletOrder).where(SandboxWalletOrder.provider == self.name, SandboxWalletOrder.payment_id == payment_id)
        return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()

    def _wait(self) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)

    @staticmethod
    def _nonce() -> str:
        return secrets.token_hex(16)

    # Provider specifics -------------------------------------------------------------------

    def _generate_key(self): ...

    def _action(self, trade_no: str, expires_at: datetime) -> dict: ...

    def _encode_notify(self, **fields) -> tuple[bytes, dict[str, str]]: ...

    def parse_callback(self, body: bytes, headers: Mapping[str, str]) -> Notification: ...
