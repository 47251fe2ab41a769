"""Users, API tokens and the audit log: the admin's business."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from hub.api.auth_schemas import (
    AuditOut,
    NewTokenOut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)
from hub.api.deps import AdminDep, WebDep
from hub.auth.secrets import PasswordError
from hub.auth.store import ApiToken, AuthError, User

router = APIRouter(tags=["users"])


def _user(u: User) -> UserOut:
    return UserOut(name=u.name, display_name=u.display_name, role=u.role, disabled=u.disabled,
                   created=u.created, created_by=u.created_by)


def _token(t: ApiToken) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, role=t.role, created=t.created,
                    created_by=t.created_by, expires=t.expires, last_used=t.last_used,
                    revoked_at=t.revoked_at)


def _http(exc: AuthError | PasswordError) -> HTTPException:
    return HTTPException(exc.status if isinstance(exc, AuthError) else 422, str(exc))


@router.get("/api/users")
def list_users(web: WebDep, _admin: AdminDep) -> list[UserOut]:
    return [_user(u) for u in web.auth.users()]


@router.post("/api/users", status_code=201)
async def add_user(web: WebDep, admin: AdminDep, body: UserIn) -> UserOut:
    try:
        user = await asyncio.to_thread(
            web.auth.add_user, body.name, body.password.get_secret_value(), body.role,
            display_name=body.display_name, by=admin.name)
    except (AuthError, PasswordError) as exc:
        raise _http(exc) from None
    return _user(user)


@router.patch("/api/users/{name}")
async def update_user(web: WebDep, admin: AdminDep, name: str, body: UserPatch) -> UserOut:
    """Change a role, reset a password, disable or enable; a new password or a disabled
    account ends that user's sessions. The last admin stays an admin."""
    try:
        user = await asyncio.to_thread(
            web.auth.update_user, name, by=admin.name, role=body.role,
            password=body.password.get_secret_value() if body.password else None,
            disabled=body.disabled, display_name=body.display_name)
    except (AuthError, PasswordError) as exc:
        raise _http(exc) from None
    return _user(user)


@router.delete("/api/users/{name}")
def remove_user(web: WebDep, admin: AdminDep, name: str) -> UserOut:
    try:
        return _user(web.auth.remove_user(name, by=admin.name))
    except AuthError as exc:
        raise _http(exc) from None


@router.get("/api/tokens")
def list_tokens(web: WebDep, _admin: AdminDep) -> list[TokenOut]:
    return [_token(t) for t in web.auth.tokens()]


@router.post("/api/tokens", status_code=201)
def create_token(web: WebDep, admin: AdminDep, body: TokenIn) -> NewTokenOut:
    """A token for a machine client or a wall screen (`viewer`). The secret is in this
    answer only; the hub keeps a digest."""
    token, secret = web.auth.create_token(
        body.name, body.role, by=admin.name,
        ttl_s=None if body.days is None else body.days * 86400)
    return NewTokenOut(**_token(token).model_dump(), token=secret)


@router.delete("/api/tokens/{token_id}")
def revoke_token(web: WebDep, admin: AdminDep, token_id: str) -> TokenOut:
    """Revoke: the token and the wall-screen sessions opened with it stop working."""
    try:
        return _token(web.auth.revoke_token(token_id, by=admin.name))
    except AuthError as exc:
        raise _http(exc) from None


@router.get("/api/audit")
def audit(web: WebDep, _admin: AdminDep,
          actor: str | None = None,
          limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[AuditOut]:
    """Who did what, newest first: logins, acknowledgements, silences, users, tokens."""
    return [AuditOut(ts=e.ts, actor=e.actor, action=e.action, target=e.target,
                     detail=e.detail) for e in web.auth.audit(limit=limit, actor=actor)]
