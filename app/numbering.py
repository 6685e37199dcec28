"""Document numbers from a configurable pattern with a per-kind yearly sequence, gapless under concurrency."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from . import db
from .models import NumberSequence
from .settings import get_setting


class PatternError(ValueError):
    pass


def render(pattern: str, year: int, seq: int) -> str:
    try:
        return pattern.format(year=year, seq=seq)
    except (KeyError, IndexError, ValueError) as error:
        raise PatternError(f"bad number pattern {pattern!r}: {error}") from None


def check_pattern(pattern: str) -> None:
    """A pattern must render and must contain the sequence (or numbers would repeat)."""
    if "{seq" not in pattern:
        raise PatternError("the pattern must contain {seq}")
    render(pattern, 2026, 1)


def next_number(kind: str, today: dt.date | None = None) -> str:
    """Take the next number of `kind` for this year inside the caller's transaction.

    The UPDATE locks the year's row until the caller commits, so concurrent issuers queue and
    numbers have no gaps (a rolled-back transaction gives its number back) and no duplicates.
    """
    year = (today or dt.date.today()).year
    statement = (
        update(NumberSequence)
        .where(NumberSequence.kind == kind, NumberSequence.year == year)
        .values(last=NumberSequence.last + 1)
        .returning(NumberSequence.last)
    )
    seq = db.session.execute(statement).scalar_one_or_none()
    if seq is None:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(NumberSequence).values(kind=kind, year=year, last=0))
        except IntegrityError:
            pass  # another transaction created the row first; the UPDATE below waits for it
        seq = db.session.execute(statement).scalar_one()
    return render(get_setting(f"number_pattern.{kind}"), year, seq)
