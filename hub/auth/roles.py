"""Roles and what each may do. Pure: the API asks these questions, nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

CARE_CATEGORY = "elderly_care"


class Role(Enum):
    ADMIN = "admin"                    # 管理员
    DUTY_OFFICER = "duty_officer"      # 安防值班员
    CARE_OPERATOR = "care_operator"    # 养老服务坐席
    VIEWER = "viewer"                  # 只读（值班大屏）


PrincipalKind = Literal["user", "token"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a person logged in, or a machine client with an API token."""

    name: str
    """What the records say did it: the user name, or `token:<name>` for a machine."""
    role: Role
    kind: PrincipalKind
    display_name: str


def may_handle_alert(role: Role, category: str) -> bool:
    """Acknowledge or clear an alert of this category."""
    if role in (Role.ADMIN, Role.DUTY_OFFICER):
        return True
    return role is Role.CARE_OPERATOR and category == CARE_CATEGORY


def may_silence(role: Role, category: str | None) -> bool:
    """Create or end a silence that covers `category` (None: every category)."""
    if role in (Role.ADMIN, Role.DUTY_OFFICER):
        return True
    return role is Role.CARE_OPERATOR and category == CARE_CATEGORY


def may_check_in(role: Role) -> bool:
    """Record a check-in with a resident of the care programme."""
    return role in (Role.ADMIN, Role.DUTY_OFFICER, Role.CARE_OPERATOR)


def may_run_drills(role: Role) -> bool:
    return role in (Role.ADMIN, Role.DUTY_OFFICER)


def may_administer(role: Role) -> bool:
    """Users, tokens, the audit log, the clock and rule changes."""
    return role is Role.ADMIN


def sees_contacts(role: Role) -> bool:
    """Residents' phone numbers are for the people who call them, not for a wall screen."""
    return role is not Role.VIEWER


def permissions(role: Role) -> dict[str, bool]:
    """What the pages may offer this role (the API checks again on every call)."""
    return {
        "handle_alerts": role in (Role.ADMIN, Role.DUTY_OFFICER),
        "handle_care_alerts": may_handle_alert(role, CARE_CATEGORY),
        "silence": may_silence(role, None),
        "silence_care": may_silence(role, CARE_CATEGORY),
        "check_in": may_check_in(role),
        "drills": may_run_drills(role),
        "administer": may_administer(role),
    }
