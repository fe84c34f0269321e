"""Authentication primitives: principals, roles, password and token hashing.

Who may see what is decided here in one place: a network admin sees the whole
network, a merchant admin or API key one merchant, store staff one merchant
(and act at their own store). Another merchant's resource answers 404, so ids
of other merchants' things cannot even be probed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from oao.core.errors import Forbidden, NotFound

_hasher = PasswordHasher()


class Role(StrEnum):
    NETWORK_ADMIN = "network_admin"
    MERCHANT_ADMIN = "merchant_admin"
    STORE_STAFF = "store_staff"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "api_key" | "staff"
    id: str
    name: str
    role: Role
    merchant_id: str | None  # None only for network admins
    location_id: str | None = None  # store staff's home store

    @property
    def is_network_admin(self) -> bool:
        return self.role is Role.NETWORK_ADMIN

    def can_see_merchant(self, merchant_id: str | None) -> bool:
        return self.is_network_admin or (merchant_id is not None and merchant_id == self.merchant_id)

    def ensure_merchant(self, merchant_id: str | None, what: str, ident: str) -> None:
        """404 (not 403) for another merchant's resource, so its existence never leaks."""
        if not self.can_see_merchant(merchant_id):
            raise NotFound(f"No {what} {ident!r}.")

    def ensure_admin_of(self, merchant_id: str | None) -> None:
        if self.is_network_admin:
            return
        if self.role is not Role.MERCHANT_ADMIN or merchant_id != self.merchant_id:
            raise Forbidden("This needs a merchant admin of that merchant or a network admin.")

    def ensure_network_admin(self) -> None:
        if not self.is_network_admin:
            raise Forbidden("Only a network admin may do this.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str) -> str:
    """A bearer secret such as `oao_sk_…`; only its hash is stored."""
    return f"{prefix}_{secrets.token_urlsafe(24)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
