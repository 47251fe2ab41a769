"""Auth settings from the environment (pydantic-settings), never from the config file."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWANG_", env_file=".env", extra="ignore")
    admin_user: str = "admin"
    admin_password: SecretStr | None = None
    """SHOUWANG_ADMIN_PASSWORD: creates the first admin when hub.db has no users yet."""
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    """How long a login lasts (SHOUWANG_SESSION_HOURS)."""
    screen_session_days: float = Field(30.0, gt=0, le=365)
    """How long a wall screen stays logged in after opening its token link."""
