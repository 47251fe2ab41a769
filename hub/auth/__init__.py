"""Who may do what on the hub: users with roles, sessions, API tokens, and the audit log.

Roles (`Role`): `admin` (everything, including users and tokens), `duty_officer`
(acknowledge, clear and silence any alert; drills), `care_operator` (acknowledge and clear
elderly-care alerts with an outcome, record check-ins, silence elderly-care alerts),
`viewer` (read only: a wall screen). Every API call but `/api/health`, `/metrics` and the
login itself needs a principal: a person logged in (an HTTP-only session cookie from
`POST /api/login`) or a machine with `Authorization: Bearer <token>`.

Passwords are hashed with Argon2id (argon2-cffi); sessions and tokens are random secrets of
which hub.db keeps only a SHA-256 digest, so a copy of the database logs nobody in.
"""

from hub.auth.roles import Principal, Role

__all__ = ["Principal", "Role"]
