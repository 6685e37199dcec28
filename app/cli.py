"""Command-line tasks: `flask roles sync` (roles and permissions as declared in app/roles.py)."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup

roles_cli = AppGroup("roles", help="Roles and permissions.")


@roles_cli.command("sync")
def sync_command() -> None:
    """Create all permissions and set each role's permission set (idempotent)."""
    from .roles import sync_roles

    counts = sync_roles(current_app.appbuilder)
    for role, count in counts.items():
        click.echo(f"{role}: {count} permissions")


def register(app: Flask) -> None:
    app.cli.add_command(roles_cli)
