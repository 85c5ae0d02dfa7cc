"""Counsellor accounts, managed from the command line (there is no sign-up page on purpose).

    .venv/bin/python -m bot.console.accounts create --username lan --name "Nguyễn Lan" --role counsellor
    .venv/bin/python -m bot.console.accounts list
    .venv/bin/python -m bot.console.accounts disable --username lan
    .venv/bin/python -m bot.console.accounts enable --username lan
    .venv/bin/python -m bot.console.accounts password --username lan

The password is read from standard input when it is not a terminal (`echo ... | ...`), else prompted twice.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.config import load_settings
from bot.console.auth import ROLES, Sessions, hasher
from bot.store import Counsellor, Store

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,47}$")  # short enough for the audit log's actor column
MIN_PASSWORD_CHARS = 10


class AccountError(ValueError):
    pass


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    return password


def create(store: Store, username: str, display_name: str, role: str, password: str) -> Counsellor:
    if not USERNAME_RE.match(username):
        raise AccountError("username: 2-48 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not display_name.strip():
        raise AccountError("the display name is shown to children; it cannot be empty")
    password_hash = hasher.hash(check_password(password))
    try:
        with store.session() as s:
            counsellor = Counsellor(username=username, display_name=display_name.strip(), role=role,
                                    password_hash=password_hash, active=True)
            s.add(counsellor)
    except IntegrityError:
        raise AccountError(f"username {username!r} is taken") from None
    store.audit("cli", "create_account", f"counsellor:{counsellor.id}")
    return counsellor


def accounts(store: Store) -> list[Counsellor]:
    with store.session() as s:
        return list(s.scalars(select(Counsellor).order_by(Counsellor.username)))


def set_active(store: Store, username: str, active: bool) -> Counsellor:
    with store.session() as s:
        counsellor = s.scalar(select(Counsellor).where(Counsellor.username == username))
        if counsellor is None:
            raise AccountError(f"no account {username!r}")
        counsellor.active = active
    if not active:
        Sessions(store).end_all(counsellor.id)
    store.audit("cli", "enable_account" if active else "disable_account", f"counsellor:{counsellor.id}")
    return counsellor


def set_password(store: Store, username: str, password: str) -> None:
    password_hash = hasher.hash(check_password(password))
    with store.session() as s:
        changed = s.execute(
            update(Counsellor).where(Counsellor.username == username).values(password_hash=password_hash)
        ).rowcount
        counsellor_id = s.scalar(select(Counsellor.id).where(Counsellor.username == username))
    if not changed:
        raise AccountError(f"no account {username!r}")
    Sessions(store).end_all(counsellor_id)
    store.audit("cli", "set_password", f"counsellor:{counsellor_id}")


def read_password(stdin=sys.stdin) -> str:  # noqa: ANN001 - a text stream
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise AccountError("the two passwords differ")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.console.accounts", description="Console accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("create", help="create an account (password from stdin or prompted)")
    new.add_argument("--username", required=True)
    new.add_argument("--name", required=True, help="display name, shown to the child when you join")
    new.add_argument("--role", choices=ROLES, default="counsellor")
    commands.add_parser("list", help="list accounts")
    for name, text in (("disable", "disable an account and end its sessions"), ("enable", "enable an account"),
                       ("password", "set a new password (ends the account's sessions)")):
        commands.add_parser(name, help=text).add_argument("--username", required=True)
    args = parser.parse_args(argv)

    store = Store.open(load_settings().database_url)
    try:
        if args.command == "create":
            counsellor = create(store, args.username, args.name, args.role, read_password())
            print(f"created {counsellor.username} ({counsellor.role})")
        elif args.command == "list":
            for c in accounts(store):
                print(f"{c.username}\t{c.role}\t{'active' if c.active else 'disabled'}\t{c.display_name}")
        elif args.command in ("disable", "enable"):
            set_active(store, args.username, args.command == "enable")
            print(f"{args.username}: {args.command}d")
        elif args.command == "password":
            set_password(store, args.username, read_password())
            print(f"{args.username}: password changed")
    except AccountError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
