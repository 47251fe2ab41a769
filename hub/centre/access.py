"""Who may do what at the command centre: the hub's auth model (`hub.auth`), reused.

The centre keeps its users, sessions, API tokens and audit log in its own SQLite file,
`auth.db` in its data directory, with the same tables, Argon2id hashes and secrets as a hub's.
Logging in is the hub's own router (`hub.api.login`: `POST /api/login`, `/api/login/token`,
`/api/logout`, `GET /api/me`), and users and tokens the hub's admin router (`hub.api.users`):
both reach this object as `app.state.web`, and use only what it shares with the hub's
`WebState`: `auth`, `settings` and `throttle`. The first admin comes from
`SHOUWANG_ADMIN_PASSWORD`, as on a hub.

Roles: `admin` and `duty_officer` act (acknowledge, clear, escalate, issue and cancel
warnings), `viewer` reads (a wall screen). A centre has no care operators: the store refuses
that role, and a principal holding it anyway is refused everything.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException

from hub.api.deps import PrincipalDep, refuse
from hub.api.web_state import LoginThrottle
from hub.auth.roles import Principal, Role
from hub.auth.settings import AuthSettings
from hub.auth.store import ApiToken, AuthError, AuthStore, User, seed_first_admin

CENTRE_ROLES = (Role.ADMIN, Role.DUTY_OFFICER, Role.VIEWER)
ACTING_ROLES = (Role.ADMIN, Role.DUTY_OFFICER)
AUTH_DB = "auth.db"


def _centre_role(role: Role | None) -> None:
    if role is not None and role not in CENTRE_ROLES:
        raise AuthError(422, f"a command centre has no {role.value} role: use "
                             f"{', '.join(r.value for r in CENTRE_ROLES)}")


class CentreAuthStore(AuthStore):
    """The hub's store, refusing roles a centre does not have."""

    def add_user(self, name: str, password: str, role: Role, *,
                 display_name: str | None = None, by: str | None = None) -> User:
        _centre_role(role)
        return super().add_user(name, password, role, display_name=display_name, by=by)

    def update_user(self, name: str, *, by: str, role: Role | None = None,
                    password: str | None = None, disabled: bool | None = None,
                    display_name: str | None = None, keep_session: str | None = None
                    ) -> User:
        _centre_role(role)
        return super().update_user(name, by=by, role=role, password=password,
                                   disabled=disabled, display_name=display_name,
                                   keep_session=keep_session)

    def create_token(self, name: str, role: Role, *, by: str,
                     ttl_s: float | None = None) -> tuple[ApiToken, str]:
        _centre_role(role)
        return super().create_token(name, role, by=by, ttl_s=ttl_s)


class CentreAccess:
    """The centre's `app.state.web`: what the hub's login and user routers need of it.
    The store opens on first use, so the app can be made before the centre has started."""

    def __init__(self, data_dir: Path, settings: AuthSettings | None = None) -> None:
        self.data_dir = data_dir
        self.settings = settings or AuthSettings()
        self.throttle = LoginThrottle()
        self._auth: AuthStore | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / AUTH_DB

    @property
    def auth(self) -> AuthStore:
        if self._auth is None:
            self._auth = open_centre_auth(self.db_path, self.settings)
        return self._auth

    def close(self) -> None:
        if self._auth is not None:
            self._auth.close()
            self._auth = None


def open_centre_auth(path: Path, settings: AuthSettings) -> AuthStore:
    """As `hub.api.web_state.open_auth_store` (the first admin from SHOUWANG_ADMIN_PASSWORD),
    on the centre's store: that one builds a plain `AuthStore`."""
    store = CentreAuthStore(path, clock=time.time)
    seed_first_admin(store, settings,
                     without_users="At the centre: set SHOUWANG_ADMIN_PASSWORD and restart")
    return store


def require_reader(principal: PrincipalDep) -> Principal:
    """Anyone logged in with a centre role (viewer and up)."""
    if principal.role not in CENTRE_ROLES:
        raise refuse(principal, "use a command centre (no such role here)")
    return principal


def require_officer(principal: PrincipalDep) -> Principal:
    """A duty officer or an admin: the people who act on alerts and issue warnings."""
    if principal.role not in ACTING_ROLES:
        raise refuse(principal, "act at the command centre: it needs the duty_officer or "
                                "admin role")
    return principal


ReaderDep = Annotated[Principal, Depends(require_reader)]
OfficerDep = Annotated[Principal, Depends(require_officer)]


def auth_error(exc: AuthError) -> HTTPException:
    return HTTPException(exc.status, str(exc))
