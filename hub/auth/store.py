"""Users, sessions, API tokens and the audit log, in their own tables of hub.db.

Time here is the wall clock, not the hub's (possibly simulated) clock: a session lasts twelve
real hours however fast a drill runs the community's day.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub.auth.roles import Principal, Role
from hub.auth.secrets import (
    PasswordError,
    digest,
    hash_password,
    needs_rehash,
    new_session_secret,
    new_token_secret,
    verify_password,
)
from hub.auth.settings import AuthSettings

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, created_by TEXT, password_changed REAL NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE, created REAL NOT NULL, created_by TEXT,
    expires REAL, last_used REAL, revoked_at REAL, revoked_by TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY, user TEXT, token_id TEXT,
    created REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
CREATE TABLE IF NOT EXISTS audit (
    ts REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT,
    detail TEXT);
CREATE INDEX IF NOT EXISTS audit_by_ts ON audit(ts);
"""

TOKEN_USE_RESOLUTION_S = 60.0
"""`last_used` of a token is written at most once a minute, not on every request."""


class AuthError(Exception):
    """A request about users or tokens that cannot be done; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class User:
    name: str
    display_name: str
    role: Role
    disabled: bool
    created: float
    created_by: str | None


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    name: str
    role: Role
    created: float
    created_by: str | None
    expires: float | None
    last_used: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    ts: float
    actor: str
    action: str
    target: str | None
    detail: str | None


_USER_COLUMNS = "name, display_name, role, disabled, created, created_by"
_TOKEN_COLUMNS = (
    "id, name, role, created, created_by, expires, last_used, revoked_at")  # noqa: S105


def _user(row: tuple[object, ...]) -> User:
    name, display, role, disabled, created, by = row
    return User(str(name), str(display), Role(role), bool(disabled), float(created),  # type: ignore[arg-type]
                None if by is None else str(by))


def _token(row: tuple[object, ...]) -> ApiToken:
    tid, name, role, created, by, expires, used, revoked = row
    return ApiToken(str(tid), str(name), Role(role), float(created),  # type: ignore[arg-type]
                    None if by is None else str(by), expires,  # type: ignore[arg-type]
                    used, revoked)  # type: ignore[arg-type]


class AuthStore:
    """One connection shared under a lock: calls come from the event loop and from threads."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=10.0)
        self._lock = threading.Lock()
        self.now = clock
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, password: str, role: Role, *,
                 display_name: str | None = None, by: str | None = None) -> User:
        """Raises PasswordError for a weak password, AuthError(409) for a taken name."""
        password_hash = hash_password(password)
        now = self.now()
        with self._lock:
            taken = self._db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone()
            if taken:
                raise AuthError(409, f"user {name!r} already exists")
            self._db.execute(
                "INSERT INTO users(name, display_name, role, password_hash, created, "
                "created_by, password_changed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, display_name or name, role.value, password_hash, now, by, now))
        self.record(by or "system", "user.add", name, role.value)
        return User(name, display_name or name, role, False, now, by)

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_USER_COLUMNS} FROM users "  # noqa: S608
                                   "WHERE name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_USER_COLUMNS} FROM users "  # noqa: S608
                                    "ORDER BY name").fetchall()
        return [_user(r) for r in rows]

    def has_users(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def update_user(self, name: str, *, by: str, role: Role | None = None,
                    password: str | None = None, disabled: bool | None = None,
                    display_name: str | None = None, keep_session: str | None = None
                    ) -> User:
        """A new password or a disabled account logs every session of the user out (but
        `keep_session`, the one that changed its own password)."""
        current = self.user(name)
        if current is None:
            raise AuthError(404, f"no user {name!r}")
        losing_admin = current.role is Role.ADMIN and not current.disabled and (
            (role is not None and role is not Role.ADMIN) or disabled is True)
        if losing_admin and self._other_admins(name) == 0:
            raise AuthError(409, f"{name!r} is the last admin: make another admin first")
        password_hash = hash_password(password) if password is not None else None
        with self._lock:
            self._db.execute("BEGIN")
            if role is not None:
                self._db.execute("UPDATE users SET role = ? WHERE name = ?", (role.value, name))
            if disabled is not None:
                self._db.execute("UPDATE users SET disabled = ? WHERE name = ?",
                                 (int(disabled), name))
            if display_name is not None:
                self._db.execute("UPDATE users SET display_name = ? WHERE name = ?",
                                 (display_name, name))
            if password_hash is not None:
                self._db.execute("UPDATE users SET password_hash = ?, password_changed = ? "
                                 "WHERE name = ?", (password_hash, self.now(), name))
            if password_hash is not None or disabled:
                kept = digest(keep_session) if keep_session and not disabled else ""
                self._db.execute("DELETE FROM sessions WHERE user = ? AND id_hash != ?",
                                 (name, kept))
            self._db.execute("COMMIT")
        changes = [f"role={role.value}" if role else "", "password" if password else "",
                   f"disabled={disabled}" if disabled is not None else "",
                   "display_name" if display_name else ""]
        self.record(by, "user.update", name, " ".join(c for c in changes if c))
        updated = self.user(name)
        assert updated is not None
        return updated

    def remove_user(self, name: str, *, by: str) -> User:
        current = self.user(name)
        if current is None:
            raise AuthError(404, f"no user {name!r}")
        if current.role is Role.ADMIN and not current.disabled and self._other_admins(name) == 0:
            raise AuthError(409, f"{name!r} is the last admin and cannot be removed")
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM users WHERE name = ?", (name,))
            self._db.execute("DELETE FROM sessions WHERE user = ?", (name,))
            self._db.execute("COMMIT")
        self.record(by, "user.remove", name)
        return current

    def _other_admins(self, name: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 "
                "AND name != ?", (name,)).fetchone()
        return int(row[0])

    def check_login(self, name: str, password: str) -> User | None:
        """The user if the password is right and the account enabled. Slow (Argon2): call it
        off the event loop."""
        with self._lock:
            row = self._db.execute("SELECT password_hash FROM users WHERE name = ?",
                                   (name,)).fetchone()
        stored = None if row is None else str(row[0])
        if not verify_password(stored, password):
            return None
        user = self.user(name)
        if user is None or user.disabled:
            return None
        if stored is not None and needs_rehash(stored):
            with self._lock:
                self._db.execute("UPDATE users SET password_hash = ? WHERE name = ?",
                                 (hash_password(password), name))
        return user

    def ensure_admin(self, name: str, password: str) -> bool:
        """Create the first admin when there are no users at all; True if it did."""
        if self.has_users():
            return False
        self.add_user(name, password, Role.ADMIN, by="SHOUWANG_ADMIN_PASSWORD")
        logger.warning("created the first admin %r from SHOUWANG_ADMIN_PASSWORD", name)
        return True

    # ------------------------------------------------------------------ sessions

    def open_session(self, *, ttl_s: float, user: str | None = None,
                     token_id: str | None = None) -> str:
        """A new session for a user (after a password) or a token (a wall screen); returns
        the secret for the cookie. Only its digest is stored."""
        secret = new_session_secret()
        now = self.now()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            self._db.execute("INSERT INTO sessions(id_hash, user, token_id, created, expires) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (digest(secret), user, token_id, now, now + ttl_s))
        return secret

    def session(self, secret: str) -> Principal | None:
        """Who the session belongs to, with their role as it is now (not as it was at login)."""
        with self._lock:
            row = self._db.execute(
                "SELECT s.expires, u.name, u.display_name, u.role, u.disabled, "
                "t.id, t.name, t.role, t.revoked_at, t.expires "
                "FROM sessions s LEFT JOIN users u ON u.name = s.user "
                "LEFT JOIN api_tokens t ON t.id = s.token_id WHERE s.id_hash = ?",
                (digest(secret),)).fetchone()
        if row is None or row[0] < self.now():
            return None
        _, user, display, role, disabled, token_id, token_name, token_role, revoked, \
            token_expires = row
        if user is not None:
            return None if disabled else Principal(user, Role(role), "user", display)
        if token_id is not None and revoked is None and (
                token_expires is None or token_expires > self.now()):
            return Principal(f"token:{token_name}", Role(token_role), "token", token_name)
        return None

    def end_session(self, secret: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (digest(secret),))

    # ------------------------------------------------------------------ API tokens

    def create_token(self, name: str, role: Role, *, by: str,
                     ttl_s: float | None = None) -> tuple[ApiToken, str]:
        """A token for a machine client; the secret is returned once and never stored."""
        secret = new_token_secret()
        now = self.now()
        token_id = digest(secret)[:12]
        expires = None if ttl_s is None else now + ttl_s
        with self._lock:
            self._db.execute(
                "INSERT INTO api_tokens(id, name, role, secret_hash, created, created_by, "
                "expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, name, role.value, digest(secret), now, by, expires))
        self.record(by, "token.create", token_id, f"{name} ({role.value})")
        return ApiToken(token_id, name, role, now, by, expires, None, None), secret

    def token(self, secret: str) -> tuple[ApiToken, Principal] | None:
        now = self.now()
        with self._lock:
            row = self._db.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens "  # noqa: S608
                                   "WHERE secret_hash = ?", (digest(secret),)).fetchone()
        if row is None:
            return None
        token = _token(row)
        if token.revoked_at is not None or (token.expires is not None and token.expires < now):
            return None
        if token.last_used is None or now - token.last_used > TOKEN_USE_RESOLUTION_S:
            with self._lock:
                self._db.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?",
                                 (now, token.id))
        return token, Principal(f"token:{token.name}", token.role, "token", token.name)

    def tokens(self) -> list[ApiToken]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens "  # noqa: S608
                                    "ORDER BY created").fetchall()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str, *, by: str) -> ApiToken:
        now = self.now()
        with self._lock:
            row = self._db.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens "  # noqa: S608
                                   "WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise AuthError(404, f"no API token {token_id!r}")
            if row[7] is not None:
                raise AuthError(409, f"API token {token_id!r} is already revoked")
            self._db.execute("BEGIN")
            self._db.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? "
                             "WHERE id = ?", (now, by, token_id))
            self._db.execute("DELETE FROM sessions WHERE token_id = ?", (token_id,))
            self._db.execute("COMMIT")
        self.record(by, "token.revoke", token_id, str(row[1]))
        revoked = _token(row)
        return ApiToken(revoked.id, revoked.name, revoked.role, revoked.created,
                        revoked.created_by, revoked.expires, revoked.last_used, now)

    # ------------------------------------------------------------------ audit

    def record(self, actor: str, action: str, target: str | None = None,
               detail: str | None = None) -> None:
        """One line of who did what; never raises (the action itself already happened)."""
        try:
            with self._lock:
                self._db.execute("INSERT INTO audit(ts, actor, action, target, detail) "
                                 "VALUES (?, ?, ?, ?, ?)",
                                 (self.now(), actor, action, target, detail))
        except sqlite3.Error:
            logger.exception("audit: could not record %s %s %s", actor, action, target)

    def audit(self, *, limit: int = 200, actor: str | None = None) -> list[AuditEntry]:
        query = "SELECT ts, actor, action, target, detail FROM audit"
        params: tuple[object, ...] = ()
        if actor is not None:
            query += " WHERE actor = ?"
            params = (actor,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY ts DESC, rowid DESC LIMIT ?",
                                    (*params, limit)).fetchall()
        return [AuditEntry(*r) for r in rows]


def seed_first_admin(store: AuthStore, settings: AuthSettings, *, without_users: str) -> None:
    """The first admin from SHOUWANG_ADMIN_PASSWORD (a weak one is refused, loudly). With no
    password and no user yet, a warning ends with `without_users`: what to do, here."""
    password = settings.admin_password
    if password is not None:
        try:
            store.ensure_admin(settings.admin_user, password.get_secret_value())
        except PasswordError as exc:
            logger.error("SHOUWANG_ADMIN_PASSWORD not used: %s", exc)
    elif not store.has_users():
        logger.warning("no users yet: nobody can log in. %s", without_users)
