"""Small helpers shared by the view modules."""

from __future__ import annotations

from flask import flash, request


def flash_form_errors(form) -> None:
    """Show every validation message of a form that redirects instead of re-rendering."""
    for errors in form.errors.values():
        for error in errors:
            flash(error, "danger")


def page_number() -> int:
    """The ?page= of a paged list: a positive whole number, 1 when absent or malformed."""
    value = request.args.get("page", "1")
    return max(int(value), 1) if value.isdigit() else 1
