"""Bodies of the login, user, token and audit endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hub.auth.roles import Role

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1, max_length=1000)


class TokenLoginIn(_In):
    """A wall screen opens `/?token=sw_...` once; the page trades the token for a long
    session cookie and drops it from the address bar."""

    token: SecretStr = Field(min_length=1, max_length=200)


class PasswordChangeIn(_In):
    current: SecretStr = Field(max_length=1000)
    new: SecretStr = Field(min_length=8, max_length=1000)


class MeOut(BaseModel):
    name: str
    display_name: str
    role: Role
    kind: str
    """`user` (logged in with a password) or `token` (an API token or a wall screen)."""
    permissions: dict[str, bool]
    """What the pages may offer (the API checks again on every call)."""


class UserIn(_In):
    name: str = Field(pattern=NAME_PATTERN)
    password: SecretStr = Field(min_length=8, max_length=1000)
    role: Role
    display_name: str | None = Field(None, max_length=100)


class UserPatch(_In):
    role: Role | None = None
    password: SecretStr | None = Field(None, min_length=8, max_length=1000)
    disabled: bool | None = None
    display_name: str | None = Field(None, max_length=100)


class UserOut(BaseModel):
    name: str
    display_name: str
    role: Role
    disabled: bool
    created: float
    created_by: str | None


class TokenIn(_In):
    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    days: float | None = Field(None, gt=0, le=3650)
    """Valid for this many days; no expiry when not given."""


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    created: float
    created_by: str | None
    expires: float | None
    last_used: float | None
    revoked_at: float | None


class NewTokenOut(TokenOut):
    token: str
    """The secret: shown this once, never again (the hub keeps only a digest)."""


class AuditOut(BaseModel):
    ts: float
    actor: str
    action: str
    target: str | None
    detail: str | None
