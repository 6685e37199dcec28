"""Command-line tasks: `flask roles sync`, `flask legacy import FILE.csv`, `flask training purge-error-sheets`."""

import sys

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


@click.command("seed")
def seed_command() -> None:
    """Insert the default configuration that is missing (member tiers, notice texts, number patterns,
    qualification levels with staffing rules and materials)."""
    from .settings import seed_defaults

    added = seed_defaults()
    click.echo(
        f"seeded {added['settings']} setting(s), {added['tiers']} member tier(s), "
        f"{added['levels']} qualification level(s) with their staffing rules and materials"
    )


legacy_cli = AppGroup("legacy", help="Accounts of the old system.")


@legacy_cli.command("import")
@click.argument("csv_file", type=click.File("rb"))
def legacy_import_command(csv_file) -> None:
    """Import old-system accounts from CSV (UTF-8 or GBK). All rows are checked; nothing is
    imported unless every row is valid. Columns: old_account, password_hash, hash_scheme
    (md5, sha1, sha256_salted = sha256(salt + password), plain), salt, enterprise_name,
    credit_code, region_code (6-digit district code), contact_person, mobile, landline, address,
    legal_person.
    """
    from .accounts import AccountError, import_legacy_accounts

    try:
        count, errors = import_legacy_accounts(csv_file.read())
    except AccountError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if errors:
        for line in errors:
            click.echo(line, err=True)
        click.echo(f"{len(errors)} problem(s); nothing imported.", err=True)
        sys.exit(1)
    click.echo(f"{count} legacy account(s) imported.")


training_cli = AppGroup("training", help="Technical staff and training sign-up.")


@training_cli.command("purge-error-sheets")
@click.option(
    "--older-than", type=float, default=None, help="Age in hours (default TRAINING_ERROR_SHEET_MAX_AGE_HOURS)."
)
def purge_error_sheets_command(older_than: float | None) -> None:
    """Delete the workbooks with errors written for refused 报名表 uploads once they are old."""
    import datetime as dt

    from .staff import purge_error_workbooks

    max_age = dt.timedelta(hours=older_than) if older_than is not None else None
    total = 0
    while deleted := purge_error_workbooks(max_age):
        total += deleted
    click.echo(f"deleted {total} error workbook(s)")


def register(app: Flask) -> None:
    app.cli.add_command(roles_cli)
    app.cli.add_command(legacy_cli)
    app.cli.add_command(seed_command)
    app.cli.add_command(training_cli)
