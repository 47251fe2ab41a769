"""`shouwang user ...`: users and API tokens from the command line, on the hub's own hub.db
(the hub may be running).

    shouwang user add wang --role duty_officer --config hub.yaml     # asks for the password
    shouwang user list --config hub.yaml
    shouwang user passwd wang --config hub.yaml
    shouwang user remove wang --config hub.yaml
    shouwang user token wall-1 --role viewer --config hub.yaml       # prints the token once

`--data DIR` instead of `--config` names the data directory directly. Passwords come from
the terminal, or from standard input with `--password-stdin`; never from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from hub.auth.roles import Role
from hub.auth.secrets import PasswordError
from hub.auth.store import AuthError, AuthStore

_ROLES = [r.value for r in Role]


def _store(args: argparse.Namespace) -> AuthStore:
    if args.data is not None:
        data_dir: Path = args.data
    else:
        from hub.config import load_config

        data_dir = load_config(args.config).data_dir
    return AuthStore(data_dir / "hub.db")


def _password(args: argparse.Namespace, name: str) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise PasswordError("the two passwords differ")
    return first


def _add(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        user = store.add_user(args.name, _password(args, args.name), Role(args.role),
                              display_name=args.display_name, by="cli")
    finally:
        store.close()
    print(f"added {user.name} ({user.role.value})")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        users, tokens = store.users(), store.tokens()
    finally:
        store.close()
    for u in users:
        print(f"{u.name:<24}{u.role.value:<16}{'disabled' if u.disabled else ''}")
    for t in tokens:
        state = "revoked" if t.revoked_at else ""
        print(f"token {t.id:<18}{t.name:<18}{t.role.value:<16}{state}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        store.update_user(args.name, by="cli", password=_password(args, args.name))
    finally:
        store.close()
    print(f"password of {args.name} changed; their sessions have ended")
    return 0


def _remove(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        store.remove_user(args.name, by="cli")
    finally:
        store.close()
    print(f"removed {args.name}")
    return 0


def _token(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        token, secret = store.create_token(args.name, Role(args.role), by="cli",
                                           ttl_s=args.days * 86400 if args.days else None)
    finally:
        store.close()
    print(secret)
    print(f"token {token.id} for {token.name} ({token.role.value}); shown once. A wall "
          f"screen opens http://<hub>/?token=<token>", file=sys.stderr)
    return 0


Command = Callable[[argparse.Namespace], int]


def _guarded(command: Command) -> Command:
    """Errors a person caused print one line and exit 2, as elsewhere in `shouwang`."""
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (AuthError, PasswordError) as exc:
            print(f"shouwang: {exc}", file=sys.stderr)
            return 2
    return run


def add_user_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `user ...` to the `shouwang` command's subcommands."""
    user = sub.add_parser("user", help="users and API tokens").add_subparsers(
        dest="user_command", required=True)

    def where(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        group = p.add_mutually_exclusive_group(required=True)
        group.add_argument("--config", type=Path, help="the hub's config YAML")
        group.add_argument("--data", type=Path, help="the hub's data directory")
        return p

    add = where(user.add_parser("add", help="add a user"))
    add.add_argument("name")
    add.add_argument("--role", choices=_ROLES, required=True)
    add.add_argument("--display-name")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=_guarded(_add))
    ls = where(user.add_parser("list", help="list users and tokens"))
    ls.set_defaults(func=_guarded(_list))
    pw = where(user.add_parser("passwd", help="set a user's password"))
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=_guarded(_passwd))
    rm = where(user.add_parser("remove", help="remove a user"))
    rm.add_argument("name")
    rm.set_defaults(func=_guarded(_remove))
    tok = where(user.add_parser("token", help="create an API token (printed once)"))
    tok.add_argument("name", help="what the token is for: wall-1, dispatch-bot ...")
    tok.add_argument("--role", choices=_ROLES, default="viewer")
    tok.add_argument("--days", type=float, help="expires after this many days")
    tok.set_defaults(func=_guarded(_token))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shouwang")
    add_user_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
