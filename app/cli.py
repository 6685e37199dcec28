"""Command-line tasks: `flask roles sync`, `flask legacy import KIND FILE`, `flask training purge-error-sheets`."""

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
        f"{added['levels']} qualification level(s) with their staffing rules and materials, "
        f"{added['templates']} message template(s)"
    )


legacy_cli = AppGroup("legacy", help="Switch-over from the old system.")


@legacy_cli.group("import")
def legacy_import_group() -> None:
    """Import the old system's exports, in this order: accounts, enterprises, memberships, certificates, staff."""


@legacy_import_group.command("accounts")
@click.argument("csv_file", type=click.File("rb"))
def legacy_import_accounts_command(csv_file) -> None:
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


def _legacy_kind_command(kind: str, summary: str) -> None:
    from .legacy import describe

    columns = "; ".join(f"{c.name}{'' if c.required else ' (optional)'}: {c.description}" for c in describe(kind))

    @legacy_import_group.command(kind, help=f"{summary} CSV (UTF-8, UTF-8 with BOM, GBK) or .xlsx. Columns: {columns}.")
    @click.argument("data_file", type=click.File("rb"))
    @click.option("--dry-run", is_flag=True, help="Print what would be created, updated and refused; change nothing.")
    def command(data_file, dry_run: bool) -> None:
        import os

        from .legacy import ImportRefused, run_import

        try:
            name = os.path.basename(getattr(data_file, "name", kind))
            report = run_import(kind, data_file.read(), name, dry_run=dry_run)
        except ImportRefused as error:
            click.echo(f"error: {error.message}", err=True)
            sys.exit(1)
        for outcome in report.outcomes:
            line = f"line {outcome.line}: {outcome.action} {outcome.key}" + (f" ({outcome.detail})" if outcome.detail else "")
            click.echo(line, err=outcome.action == "refuse")
        counts = ", ".join(f"{report.count(a)} {a}" for a in ("create", "update", "unchanged", "refuse"))
        click.echo(f"{kind}: {counts}; sha256 {report.sha256}")
        if report.refused:
            click.echo(f"{len(report.refused)} row(s) refused; nothing imported.", err=True)
            sys.exit(1)
        click.echo("dry run: nothing changed." if dry_run else ("imported." if report.applied else "nothing to change."))


for _kind, _summary in (
    ("enterprises", "Enterprise profiles (accounts imported before)."),
    ("memberships", "Memberships: tier, member number, period, fee paid."),
    ("certificates", "Qualification certificates: level, number, dates, status, annual reviews, copies."),
    ("staff", "Technical staff with training results and certificate numbers."),
):
    _legacy_kind_command(_kind, _summary)


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


jobs_cli = AppGroup("jobs", help="Scheduled jobs (reminders, expiry, purges, SMS retries).")


@jobs_cli.command("list")
def jobs_list_command() -> None:
    """Each job, its schedule and its last run."""
    from .jobs import JOBS, describe_counts, last_runs

    for name, job in JOBS.items():
        runs = last_runs(name, 1)
        last = (
            f"{runs[0].started_on:%Y-%m-%d %H:%M} UTC {runs[0].result} {describe_counts(runs[0].counts)}"
            if runs
            else "never run"
        )
        click.echo(f"{name:26} {job.schedule.describe():24} {last}")
        if runs and runs[0].error:  # the page shows staff a note in Chinese; the detail is here and in the log
            click.echo(f"{'':26} run #{runs[0].id}: {runs[0].error}")


@jobs_cli.command("run")
@click.argument("name")
def jobs_run_command(name: str) -> None:
    """Run one job now (its own slot: it does not take the place of the next scheduled run)."""
    from .jobs import JOBS, describe_counts, run_job

    if name not in JOBS:
        click.echo(f"unknown job {name!r}; one of: {', '.join(JOBS)}", err=True)
        sys.exit(2)
    run = run_job(name, trigger="manual")
    click.echo(f"{name}: {run.result} {describe_counts(run.counts)}")
    if run.result != "ok":
        click.echo(run.error or "", err=True)
        sys.exit(1)


@jobs_cli.command("scheduler")
@click.option("--no-catch-up", is_flag=True, help="Do not run the slots missed while no scheduler ran.")
def jobs_scheduler_command(no_catch_up: bool) -> None:
    """The scheduler process: run it once per installation beside gunicorn (never inside the web
    workers). A second one anywhere is harmless: each slot is claimed in the database and runs once."""
    from .jobs import build_scheduler, catch_up

    app = current_app._get_current_object()
    if not no_catch_up:
        for run in catch_up():
            click.echo(f"caught up {run.job} ({run.scheduled_for:%Y-%m-%d %H:%M} UTC): {run.result}")
    scheduler = build_scheduler(app)
    click.echo("scheduler started; Ctrl+C stops it")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


def register(app: Flask) -> None:
    app.cli.add_command(roles_cli)
    app.cli.add_command(legacy_cli)
    app.cli.add_command(seed_command)
    app.cli.add_command(training_cli)
    app.cli.add_command(jobs_cli)
