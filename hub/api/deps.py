"""Typed dependencies: handlers get the running Hub through `HubDep`, the web layer's stores
through `WebDep`, and who is asking through `PrincipalDep` (or a role check built on it).
Tests override them like any dependency."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from hub.api.web_state import WebState
from hub.auth.roles import Principal, Role, may_administer
from hub.service import Hub

SESSION_COOKIE = "shouwang_session"
CSRF_HEADER = "X-Requested-By"
"""Writes made with the session cookie must carry this header (any value): a page of another
site cannot add it without a CORS preflight the hub never grants."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_hub(request: Request) -> Hub:
    hub: Hub | None = request.app.state.hub
    if hub is None:
        raise HTTPException(503, "the hub is still starting")
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def get_web(connection: HTTPConnection) -> WebState:
    web: WebState = connection.app.state.web
    return web


WebDep = Annotated[WebState, Depends(get_web)]

_bearer = HTTPBearer(auto_error=False, scheme_name="token",
                     description="An API token for machine clients: `Authorization: Bearer "
                                 "sw_...` (created by an admin, POST /api/tokens).")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session",
                       description="The session cookie set by POST /api/login. Writes with it "
                                   f"also need the header `{CSRF_HEADER}`.")


def authenticate(web: WebState, headers: Mapping[str, str], cookies: Mapping[str, str],
                 token: str | None = None) -> Principal | None:
    """A bearer token (header, or `token` for a WebSocket), else the session cookie.
    Raises 401 for a token that is wrong; None when there are no credentials at all."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _unauthorized("send the token as `Authorization: Bearer <token>`")
        token = value.strip()
    if token:
        found = web.auth.token(token)
        if found is None:
            raise _unauthorized("unknown, expired or revoked API token")
        return found[1]
    session = cookies.get(SESSION_COOKIE)
    if session:
        principal = web.auth.session(session)
        if principal is None:
            raise _unauthorized("your session has ended: log in again")
        return principal
    return None


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    request: Request,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _session: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """Who is asking. (`_token` and `_session` are read again by `authenticate`; they are
    here so the OpenAPI document lists both ways to log in.)"""
    web = get_web(request)
    principal = authenticate(web, request.headers, request.cookies)
    if principal is None:
        raise _unauthorized("log in first (POST /api/login), or send "
                            "`Authorization: Bearer <token>`")
    if (request.method not in _SAFE_METHODS and "authorization" not in request.headers
            and CSRF_HEADER.lower() not in request.headers):
        raise HTTPException(403, f"a write with the session cookie needs the header "
                                 f"`{CSRF_HEADER}` (protection against cross-site requests)")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def refuse(principal: Principal, what: str) -> HTTPException:
    return HTTPException(403, f"{principal.name} ({principal.role.value}) may not {what}")


def require_admin(principal: PrincipalDep) -> Principal:
    if not may_administer(principal.role):
        raise refuse(principal, "do this: it needs the admin role")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]

__all__ = ["AdminDep", "HubDep", "PrincipalDep", "Role", "WebDep"]
