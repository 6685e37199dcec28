"""Document numbers from a configurable pattern with a per-kind yearly sequence, gapless under concurrency."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from . import clock, db
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
    year = (today or clock.today()).year
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


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A regular expression matching the numbers `pattern` renders, with groups `year` and `seq`."""
    parts = []
    for literal, name, _spec, _conversion in string.Formatter().parse(pattern):
        parts.append(re.escape(literal))
        if name == "year":
            parts.append(r"(?P<year>\d{4})")
        elif name == "seq":
            parts.append(r"(?P<seq>\d+)")
        elif name is not None:
            raise PatternError(f"bad number pattern {pattern!r}: unknown field {name!r}")
    return re.compile("".join(parts) + r"\Z")


def parse_number(pattern: str, number: str) -> tuple[int | None, int] | None:
    """(year or None if the pattern has none, seq) of a number the pattern renders, else None."""
    match = pattern_regex(pattern).match(number.strip())
    if match is None:
        return None
    year = match.groupdict().get("year")
    return (int(year) if year else None, int(match["seq"]))


def continue_after(kind: str, numbers: Iterable[tuple[str, dt.date]]) -> dict[int, int]:
    """Move each year's sequence of `kind` past the highest of `numbers` (imported numbers, with the date
    the platform would have numbered them by); numbers the configured pattern does not render are skipped.

    Runs inside the caller's transaction; returns {year: highest seq seen}.
    """
    pattern = get_setting(f"number_pattern.{kind}")
    highest: dict[int, int] = {}
    for number, on in numbers:
        parsed = parse_number(pattern, number)
        if parsed is None:
            continue
        year = parsed[0] or on.year
        highest[year] = max(highest.get(year, 0), parsed[1])
    for year, seq in highest.items():
        moved = db.session.execute(
            update(NumberSequence)
            .where(NumberSequence.kind == kind, NumberSequence.year == year, NumberSequence.last < seq)
            .values(last=seq)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 0:
            exists = db.session.scalar(
                select(NumberSequence.last).where(NumberSequence.kind == kind, NumberSequence.year == year)
            )
            if exists is None:
                db.session.execute(insert(NumberSequence).values(kind=kind, year=year, last=seq))
    return highest
