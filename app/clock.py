"""The platform's calendar: dates and times in Asia/Shanghai, whatever the server's own zone.

China keeps no daylight saving time, so a fixed +08:00 offset is exact. Every "today" the rules
depend on (validity, windows, sign-up dates, sequences by year) comes from here.
"""

from __future__ import annotations

import datetime as dt

CHINA = dt.timezone(dt.timedelta(hours=8))


def now() -> dt.datetime:
    return dt.datetime.now(CHINA)


def today() -> dt.date:
    """The calendar day in Asia/Shanghai."""
    return now().date()
