"""Password hashes (Argon2id) and the random secrets behind sessions and API tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 8
TOKEN_PREFIX = "sw_"  # noqa: S105 (a prefix, not a secret)
"""API tokens start with this, so a leaked one is easy to recognise (and to scan for)."""

_hasher = PasswordHasher()  # argon2-cffi's defaults: RFC 9106's low-memory Argon2id profile
# Verified against when the user does not exist, so a wrong name costs as long as a wrong
# password and timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class PasswordError(ValueError):
    """A password that may not be set; the message says why."""


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PasswordError(f"a password needs at least {MIN_PASSWORD} characters")
    if password.strip() != password:
        raise PasswordError("a password may not start or end with spaces")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not there is a hash to check against."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_session_secret() -> str:
    return secrets.token_urlsafe(32)


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What hub.db keeps of a session or token: 256 random bits need no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()
