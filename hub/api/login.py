"""Logging in and out: a session cookie for people and wall screens; who am I."""

from __future__ import annotations

import asyncio
import ipaddress
import time

from fastapi import APIRouter, HTTPException, Request, Response

from hub.api.auth_schemas import LoginIn, MeOut, PasswordChangeIn, TokenLoginIn
from hub.api.deps import SESSION_COOKIE, PrincipalDep, WebDep
from hub.auth.roles import Principal, permissions
from hub.auth.secrets import PasswordError

router = APIRouter(tags=["login"])


def _me(principal: Principal) -> MeOut:
    return MeOut(name=principal.name, display_name=principal.display_name,
                 role=principal.role, kind=principal.kind,
                 permissions=permissions(principal.role))


def _secure(request: Request) -> bool:
    """Secure cookies over HTTPS, and on loopback (browsers treat it as a secure context).
    A hub reached over plain HTTP on the LAN gets a cookie browsers will store at all —
    put it behind TLS (README, "Logging in")."""
    if request.url.scheme == "https":
        return True
    host = request.url.hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _set_session(request: Request, response: Response, secret: str, ttl_s: float) -> None:
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(ttl_s), httponly=True,
                        secure=_secure(request), samesite="strict", path="/")


@router.post("/api/login")
async def login(request: Request, response: Response, web: WebDep, body: LoginIn) -> MeOut:
    """Check the password and set the session cookie (HTTP-only, SameSite=Strict)."""
    name = body.username
    wait = web.throttle.wait_s(name, time.monotonic())
    if wait > 0:
        raise HTTPException(429, f"too many wrong passwords for {name!r}: try again in "
                                 f"{wait:.0f} s", headers={"Retry-After": f"{wait:.0f}"})
    auth = web.auth
    user = await asyncio.to_thread(auth.check_login, name, body.password.get_secret_value())
    if user is None:
        web.throttle.failed(name, time.monotonic())
        auth.record(name, "login.failed", None, request.client.host if request.client else None)
        raise HTTPException(401, "wrong user name or password, or the account is disabled")
    web.throttle.succeeded(name)
    ttl_s = web.settings.session_hours * 3600
    _set_session(request, response, auth.open_session(user=user.name, ttl_s=ttl_s), ttl_s)
    auth.record(user.name, "login", None, request.client.host if request.client else None)
    return _me(Principal(user.name, user.role, "user", user.display_name))


@router.post("/api/login/token")
async def login_with_token(request: Request, response: Response, web: WebDep,
                           body: TokenLoginIn) -> MeOut:
    """Trade an API token for a long session cookie: how a wall screen logs in unattended.
    Revoking the token ends the session."""
    found = web.auth.token(body.token.get_secret_value())
    if found is None:
        raise HTTPException(401, "unknown, expired or revoked API token")
    token, principal = found
    ttl_s = web.settings.screen_session_days * 86400
    if token.expires is not None:
        ttl_s = max(1.0, min(ttl_s, token.expires - web.auth.now()))
    _set_session(request, response, web.auth.open_session(token_id=token.id, ttl_s=ttl_s),
                 ttl_s)
    web.auth.record(principal.name, "login.token", token.id,
                    request.client.host if request.client else None)
    return _me(principal)


@router.post("/api/logout", status_code=204)
async def logout(request: Request, web: WebDep) -> Response:
    """End this browser's session (nothing to do without one)."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        principal = web.auth.session(secret)
        web.auth.end_session(secret)
        if principal is not None:
            web.auth.record(principal.name, "logout")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request), httponly=True,
                           samesite="strict")
    return response


@router.get("/api/me")
def me(principal: PrincipalDep) -> MeOut:
    """Who is logged in, and what the pages may offer them."""
    return _me(principal)


@router.post("/api/me/password", status_code=204)
async def change_password(request: Request, web: WebDep, principal: PrincipalDep,
                          body: PasswordChangeIn) -> Response:
    """Change your own password; every other session of yours ends."""
    if principal.kind != "user":
        raise HTTPException(403, "an API token has no password")
    auth = web.auth
    user = await asyncio.to_thread(auth.check_login, principal.name,
                                   body.current.get_secret_value())
    if user is None:
        raise HTTPException(403, "the current password is wrong")
    try:
        await asyncio.to_thread(auth.update_user, principal.name, by=principal.name,
                                password=body.new.get_secret_value(),
                                keep_session=request.cookies.get(SESSION_COOKIE))
    except PasswordError as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(status_code=204)
