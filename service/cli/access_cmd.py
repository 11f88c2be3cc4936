"""`ordershield keys …` and `ordershield users …`: manage API keys and people from the shell."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from service.auth.keys import create_key, list_keys, revoke_key
from service.auth.people import create_user, disable_user, list_users
from service.auth.roles import KEY_ROLE_DEFAULT, PERSON_ROLES, ROLES, SCOPES
from service.cli.db import database, when
from service.settings import ServiceSettings

keys = typer.Typer(help="API keys of machine clients (the order system).", no_args_is_help=True)
users = typer.Typer(help="People who sign in to the web UI.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()


@keys.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who uses the key, e.g. order-system")],
    scopes: Annotated[str, typer.Option(help=f"comma-separated, of: {', '.join(SCOPES)}")],
    role: Annotated[
        str, typer.Option(help=f"whose view of orders it gets, one of: {', '.join(ROLES)}")
    ] = KEY_ROLE_DEFAULT,
) -> None:
    """Create a key and print its token alone on stdout: it is shown this once."""
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    with database(ServiceSettings()) as engine:
        key, token = create_key(engine, name, wanted, role)
    err.print(f"key {key.id} ({key.name}): scopes {', '.join(key.scopes)}, role {key.role}")
    sys.stdout.write(token + "\n")


@keys.command("list")
def keys_list() -> None:
    """List every key: scopes, role, creation, last use, revocation."""
    with database(ServiceSettings()) as engine:
        found = list_keys(engine)
    table = Table("id", "name", "scopes", "role", "created", "last used", "revoked")
    for key in found:
        table.add_row(
            key.id,
            key.name,
            ",".join(key.scopes),
            key.role,
            when(key.created_at),
            when(key.last_used_at),
            when(key.revoked_at),
        )
    out.print(table)


@keys.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the id `keys list` shows")]) -> None:
    """Revoke a key: the next call with it is refused."""
    with database(ServiceSettings()) as engine:
        if not revoke_key(engine, key_id):
            err.print(f"[red]error:[/red] no live key {key_id!r}")
            raise typer.Exit(1)
    out.print(f"revoked key {key_id}")


@users.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="the sign-in name")],
    role: Annotated[str, typer.Option(help=f"one of: {', '.join(PERSON_ROLES)}")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Create a person's account; the password comes from a prompt or from stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with database(ServiceSettings()) as engine:
        user = create_user(engine, username, role, password)
    out.print(f"created {user.username} ({user.role})")


@users.command("list")
def users_list() -> None:
    """List every account and its role."""
    with database(ServiceSettings()) as engine:
        found = list_users(engine)
    table = Table("username", "role", "created", "disabled")
    for user in found:
        table.add_row(user.username, user.role, when(user.created_at), when(user.disabled_at))
    out.print(table)


@users.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="the sign-in name")]) -> None:
    """Disable an account and end its sessions."""
    with database(ServiceSettings()) as engine:
        if not disable_user(engine, username):
            err.print(f"[red]error:[/red] no user {username!r}")
            raise typer.Exit(1)
    out.print(f"disabled {username}")
