"""Dashboard users: operators (every merchant) and a merchant's admins (may refund) and viewers
(read only). Passwords are kept only as argon2id hashes. Failed sign-ins are limited per account
and per client address where requests arrive (gateway/web/dashboard.py, flask-limiter)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.adapters.db.models import Merchant
from gateway.adapters.db.web_models import DashboardUser
from gateway.domain.errors import Conflict, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.services.ports import StoragePorts

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the e-mail is unknown, so a wrong e-mail takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class Role(str, Enum):
    OPERATOR = "operator"
    MERCHANT_ADMIN = "merchant_admin"
    MERCHANT_VIEWER = "merchant_viewer"


@dataclass(frozen=True)
class User:
    id: str
    email: str
    role: Role
    merchant_id: str | None
    merchant_name: str | None

    @property
    def scope(self) -> str | None:
        """The merchant whose objects this user sees; None for an operator (all of them)."""
        return None if self.role is Role.OPERATOR else self.merchant_id

    @property
    def may_refund(self) -> bool:
        return self.role in (Role.OPERATOR, Role.MERCHANT_ADMIN)


def create_user(gw: StoragePorts, email: str, password: str, role: Role, merchant_id: str | None = None) -> User:
    email = normal_email(email)
    if "@" not in email or len(email) > 254:
        raise InvalidRequest("email_invalid", "Give an e-mail address.", "email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest("password_too_short", f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", "password")
    if (role is Role.OPERATOR) != (merchant_id is None):
        raise InvalidRequest("merchant_invalid", "Operators belong to no merchant; merchant users to one.", "merchant")
    try:
        with gw.db.unit_of_work() as session:
            if merchant_id is not None and session.get(Merchant, merchant_id) is None:
                raise NotFound("merchant", merchant_id, "merchant")
            user = DashboardUser(id=new_id("usr"), email=email, password_hash=_hasher.hash(password), role=role.value,
                                 merchant_id=merchant_id, created_at=gw.clock())
            session.add(user)
    except IntegrityError:
        raise Conflict("user_exists", "A user with this e-mail already exists.", "email") from None
    log.info("dashboard user %s (%s) created for %s", user.id, role.value, merchant_id or "all merchants")
    return get_user(gw, user.id)


def get_user(gw: StoragePorts, user_id: str) -> User | None:
    with gw.db.unit_of_work() as session:
        row = session.execute(
            select(DashboardUser, Merchant.name).outerjoin(Merchant, Merchant.id == DashboardUser.merchant_id)
            .where(DashboardUser.id == user_id, DashboardUser.disabled_at.is_(None))
        ).first()
    if row is None:
        return None
    user, merchant_name = row
    return User(user.id, user.email, Role(user.role), user.merchant_id, merchant_name)


def sign_in(gw: StoragePorts, email: str, password: str) -> User | None:
    """The user, or None for a wrong e-mail or password (not saying which)."""
    email = normal_email(email)
    with gw.db.unit_of_work() as session:
        user = session.execute(select(DashboardUser).where(DashboardUser.email == email, DashboardUser.disabled_at.is_(None))).scalar_one_or_none()
    if user is not None and _verify(user.password_hash, password):
        log.info("dashboard user %s signed in", user.id)
        return get_user(gw, user.id)
    if user is None:
        _verify(_DUMMY_HASH, password)
    log.info("failed dashboard sign-in")
    return None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def normal_email(email: str) -> str:
    """The form an account's e-mail is stored and counted in."""
    return email.strip().lower()
