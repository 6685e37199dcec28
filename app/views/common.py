"""Small helpers shared by the view modules."""

from __future__ import annotations

from flask import flash, request
from wtforms import BooleanField


def flash_form_errors(form) -> None:
    """Show every validation message of a form that redirects instead of re-rendering."""
    for errors in form.errors.values():
        for error in errors:
            flash(error, "danger")


def page_number() -> int:
    """The ?page= of a paged list: a positive whole number, 1 when absent or malformed."""
    value = request.args.get("page", "1")
    # Bounded: a 20-digit page would overflow the database's OFFSET (and no list is that long).
    if not (value.isascii() and value.isdigit() and len(value) <= 6):
        return 1
    return max(int(value), 1)


def checkboxes(labels: dict, *names: str, ticked: tuple[str, ...] = ()) -> dict:
    """Plain checkboxes for non-nullable boolean columns: FAB gives them InputRequired, which an
    unticked box (the browser sends nothing) never satisfies, so no flag could ever be turned off."""
    return {name: BooleanField(labels[name], default=name in ticked) for name in names}
